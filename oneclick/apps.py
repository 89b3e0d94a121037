from django.apps import AppConfig


class OneClickConfig(AppConfig):
    name = "oneclick"
    verbose_name = "Accounts and portal"

    def ready(self):
        from oneclick import checks, receivers  # noqa: F401  (registers the deploy check, connects login auditing)
        from oneclick.admin_site import install_admin_site

        install_admin_site()
