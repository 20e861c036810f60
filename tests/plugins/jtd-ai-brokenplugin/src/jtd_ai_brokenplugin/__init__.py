"""A plugin that fails on import, as one with a missing dependency would."""

import jtd_ai_dependency_that_is_not_installed  # noqa: F401
