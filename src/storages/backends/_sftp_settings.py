"""The settings of the SFTP backend, and how they are checked and normalized."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from storages._remote_fs import RemoteFilesystem, checked_base_url, checked_mode, checked_root
from storages.backends._sftp_connection import Connection
from storages.settings import Setting

__all__ = ["HOST_KEY_POLICIES", "LEGACY_ARGUMENTS", "SFTPSettings"]

#: What to do with a host key that is not in the known-hosts file.
HOST_KEY_POLICIES = ("reject", "add", "warn")

#: The constructor arguments of django-storages 1.9.1, in their positional order. ``None`` meant
#: "use the Django setting" for each of them, and still does.
LEGACY_ARGUMENTS = (
    "host",
    "params",
    "interactive",
    "file_mode",
    "dir_mode",
    "uid",
    "gid",
    "known_host_file",
    "root_path",
    "base_url",
)

# Keys of SFTP_STORAGE_PARAMS whose values are secrets (masked in error messages).
SECRET_PARAMS = ("password", "passphrase")


class SFTPSettings(RemoteFilesystem[Connection]):
    """Declares every SFTP setting, and checks and normalizes their values."""

    host = Setting("SFTP_STORAGE_HOST", None, doc="Host name or address of the SFTP server.")
    root_path = Setting(
        "SFTP_STORAGE_ROOT",
        "",
        doc="Directory on the server that holds the files ('' is the login directory).",
    )
    params = Setting(
        "SFTP_STORAGE_PARAMS",
        {},
        secret=True,
        doc="Keyword arguments of paramiko's SSHClient.connect() (port, username, key...).",
    )
    interactive = Setting(
        "SFTP_STORAGE_INTERACTIVE",
        False,
        doc="Ask for a password on the terminal when key authentication fails.",
    )
    file_mode = Setting("SFTP_STORAGE_FILE_MODE", None, doc="Permission bits of new files.")
    dir_mode = Setting("SFTP_STORAGE_DIR_MODE", None, doc="Permission bits of new directories.")
    uid = Setting("SFTP_STORAGE_UID", None, doc="Owner (user id) of new files and directories.")
    gid = Setting("SFTP_STORAGE_GID", None, doc="Group id of new files and directories.")
    known_host_file = Setting(
        "SFTP_KNOWN_HOST_FILE",
        None,
        doc="OpenSSH known_hosts file the server's key is checked against.",
    )
    host_key_policy = Setting(
        "SFTP_HOST_KEY_POLICY",
        "reject",
        doc="Unknown host keys: 'reject', 'add' (record in the file) or 'warn'.",
    )
    base_url = Setting(
        "SFTP_BASE_URL",
        None,
        aliases=("MEDIA_URL",),
        keywords=("custom_domain",),
        doc="URL prefix under which a web server publishes the root directory.",
    )

    def _configure(self) -> None:
        """Validate the settings and derive the remote root directory."""
        super()._configure()
        self.host = _text_or_none(self.host, self.setting_label("host"))
        self.params = _checked_params(self.params, self.setting_label("params"))
        self.interactive = bool(self.interactive)
        for attr in ("file_mode", "dir_mode"):
            setattr(self, attr, checked_mode(getattr(self, attr), self.setting_label(attr)))
        for attr in ("uid", "gid"):
            setattr(self, attr, _checked_id(getattr(self, attr), self.setting_label(attr)))
        known = self.known_host_file
        if known is not None:
            if not isinstance(known, (str, os.PathLike)) or not str(known):
                raise ImproperlyConfigured(
                    f"{self.setting_label('known_host_file')} must be the path of an OpenSSH "
                    f"known_hosts file, not {known!r}."
                )
            self.known_host_file = os.path.expanduser(os.fspath(known))
        policy = self.host_key_policy
        if isinstance(policy, str):
            if policy not in HOST_KEY_POLICIES:
                raise ImproperlyConfigured(
                    f"{self.setting_label('host_key_policy')} must be one of "
                    f"{', '.join(map(repr, HOST_KEY_POLICIES))} (or a paramiko "
                    f"MissingHostKeyPolicy), not {policy!r}."
                )
        elif not callable(getattr(policy, "missing_host_key", None)):
            raise ImproperlyConfigured(
                f"{self.setting_label('host_key_policy')} must be 'reject', 'add', 'warn' or a "
                f"paramiko MissingHostKeyPolicy, not {policy!r}."
            )
        self.base_url = checked_base_url(self.base_url, self.setting_label("base_url"))
        self._root = checked_root(self.root_path, self.setting_label("root_path"))

    def known_hosts_path(self) -> str:
        """Return the known-hosts file in use (``~/.ssh/known_hosts`` unless configured)."""
        return str(self.known_host_file or os.path.expanduser("~/.ssh/known_hosts"))


def _text_or_none(value: Any, label: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"{label} must be a host name, not {value!r}.")
    return value


def _checked_params(value: Any, label: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"{label} must be a dict of paramiko SSHClient.connect() arguments, such as "
            "{'port': 22, 'username': 'deploy', 'key_filename': '/path/to/key'}."
        )
    params = dict(value)
    if "hostname" in params:
        raise ImproperlyConfigured(
            f"{label} cannot contain 'hostname': set SFTP_STORAGE_HOST (option 'host') instead."
        )
    return params


def _checked_id(value: Any, label: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(f"{label} must be a numeric id (an integer >= 0), not {value!r}")
    return value
