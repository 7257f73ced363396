"""One SoftHSM2 folder and token per test process, into which any dev PKI's seal can go."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

from docservice.config import SealSettings
from docservice.signing.pki import Pki
from docservice.signing.seal import import_seal_into_softhsm

TOKEN = "docservice-test"
PIN = "4711-seal"
SO_PIN = "0815-so"

_lock = threading.Lock()
_folder: Path | None = None


def softhsm_folder() -> Path:
    """This process's SoftHSM2 folder; SOFTHSM2_CONF points at it from the first call on.

    SoftHSM2 reads SOFTHSM2_CONF once per process and sees only the tokens that existed
    then, so every test shares this folder and its one token (keys are added as needed).
    """
    global _folder
    with _lock:
        if _folder is None:
            _folder = Path(tempfile.mkdtemp(prefix="softhsm-"))
            atexit.register(shutil.rmtree, _folder, ignore_errors=True)
            os.environ["SOFTHSM2_CONF"] = str(_folder / "softhsm2.conf")
        return _folder


def seal_in_softhsm(pki: Pki) -> SealSettings:
    """Seal settings for `pki`'s seal key, imported (once) into this process's test token."""
    folder = softhsm_folder()
    with _lock:
        return import_seal_into_softhsm(pki, token_label=TOKEN, pin=PIN, so_pin=SO_PIN,
                                        softhsm_conf_dir=folder)
