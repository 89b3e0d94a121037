import sys

# The paper exchange fixtures. When the root conftest already loads the plugin
# (pytest_plugins = ["tests.plugins.paper"]), use its fixtures, so one server
# serves the whole session; otherwise (e.g. run with --confcutdir here) bring them in.
if "tests.plugins.paper" not in sys.modules:
    from tests.plugins.paper import paper_account, paper_exchange  # noqa: F401
