from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = "Exchange keys"

    def ready(self):
        from keys.crypto import install_key_ring

        install_key_ring()
