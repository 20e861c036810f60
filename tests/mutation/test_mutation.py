"""The kit tests itself: every seeded defect in mutants.py must make the conformance kit fail.

One nested pytest run (in this process) runs the kit on each mutant and on each unchanged
driver. A mutant's kit stops at its first failing test (the rest cannot change the verdict),
so the run stays short; the unchanged drivers run the whole kit and must pass it, or a
"catch" would mean nothing. The catch rate is printed at the end of the outer run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mutants import CONTROLS, MUTANTS, VERDICTS

HERE = Path(__file__).parent
CATCH_RATE = 0.9


class _Verdicts:
    """Records, per kit class, the tests that failed; skips a class once it has failed."""

    def __init__(self) -> None:
        self.failed: dict[str, list[str]] = {}
        self.ran: dict[str, int] = {}
        self.errors: list[str] = []

    @staticmethod
    def _label(nodeid: str) -> str:
        return nodeid.split("::")[1].removeprefix("Test_")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        label = self._label(item.nodeid)
        if self.failed.get(label) and not label.startswith("control_"):
            pytest.skip("caught already: the rest of the kit cannot change the verdict")
        self.ran[label] = self.ran.get(label, 0) + 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.setdefault(self._label(report.nodeid), []).append(report.nodeid)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(str(report.longrepr))


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory,
             pytestconfig: pytest.Config) -> dict[str, list[str]]:
    """Run the kit on every mutant and control once; their failed kit tests by label."""
    home = tmp_path_factory.mktemp("mutation-home")
    recorder = _Verdicts()
    with pytest.MonkeyPatch.context() as env:
        for name in ("HOME", "USERPROFILE", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "LOCALAPPDATA",
                     "APPDATA", "JTD_AI_HOME"):
            env.setenv(name, str(home))
        env.delenv("JTD_AI_CONFIG", raising=False)
        code = pytest.main([str(HERE / "kit_for_mutants.py"), "-qq", "--tb=no", "--no-header",
                            "-p", "no:cacheprovider", "-p", "no:randomly", "--noconftest",
                            "-o", "addopts=", "--import-mode=importlib",
                            "-W", "ignore::pytest.PytestAssertRewriteWarning"],
                           plugins=[recorder])
    assert not recorder.errors, f"the mutants' kit could not be collected: {recorder.errors}"
    assert int(code) in (0, 1), f"the nested kit run ended with {code!r}"
    results = {m.name: recorder.failed.get(m.name, []) for m in MUTANTS}
    results.update({f"control_{k}": recorder.failed.get(f"control_{k}", []) for k in CONTROLS})
    pytestconfig.stash[VERDICTS] = {m.name: results[m.name] for m in MUTANTS}
    return results


@pytest.mark.parametrize("kit", list(CONTROLS))
def test_the_unchanged_driver_passes_the_kit(verdicts: dict[str, list[str]], kit: str) -> None:
    assert verdicts[f"control_{kit}"] == [], (
        f"the real {kit} driver fails its kit, so no catch can be trusted")


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_the_kit_catches(verdicts: dict[str, list[str]], mutant: Any) -> None:
    assert verdicts[mutant.name], (
        f"seeded defect {mutant.name!r} ({mutant.defect}) passed the whole kit")


def test_the_catch_rate(verdicts: dict[str, list[str]]) -> None:
    assert len(MUTANTS) >= 30
    caught = sum(1 for m in MUTANTS if verdicts[m.name])
    assert caught / len(MUTANTS) >= CATCH_RATE, f"caught {caught} of {len(MUTANTS)}"
