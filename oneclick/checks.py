"""`manage.py check --deploy`: files holding secrets must not be readable by others."""

from pathlib import Path

from django.conf import settings
from django.core.checks import Tags, Warning, register

from oneclick.lib.files import readable_by_others, sqlite_files


def _private_files():
    files = [Path(settings.ONECLICK_ENV_FILE)]
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        files += [Path(p) for p in sqlite_files(database["NAME"])]
    data = Path(settings.PAPEREXCHANGE_DATA)
    files += [data / "control_token", *(Path(p) for p in sqlite_files(data / "paperexchange.sqlite3"))]
    return files


@register(Tags.security, deploy=True)
def private_files_check(app_configs, **kwargs):
    return [
        Warning(f"{path} is readable by other users of this machine; it holds secrets.",
                hint=f"chmod 600 {path}", id="oneclick.W001")
        for path in _private_files() if readable_by_others(path)
    ]
