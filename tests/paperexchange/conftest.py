# The paper exchange fixtures, for these tests when the root conftest does not load the plugin.
from tests.plugins.paper import paper_account, paper_exchange  # noqa: F401
