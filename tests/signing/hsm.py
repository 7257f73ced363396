"""One SoftHSM2 folder and token per test process, into which any dev PKI's seal can go."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from asn1crypto import x509 as asn1_x509

from docservice.config import SealSettings
from docservice.signing.errors import SealUnavailable
from docservice.signing.pki import Pki

SOFTHSM2_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")

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


def import_seal_into_softhsm(
    pki: Pki,
    *,
    token_label: str,
    pin: str,
    so_pin: str,
    softhsm_conf_dir: Path,
    key_label: str | None = None,
    module: Path = SOFTHSM2_MODULE,
) -> SealSettings:
    """Put the dev seal key and its certificate into a SoftHSM2 token below `softhsm_conf_dir`.

    Creates `softhsm2.conf`, the token folder and the token when missing, then imports the
    seal (once: `key_label` defaults to one derived from the seal certificate), so that several
    PKIs can share one token. Changes nothing global. SoftHSM2 reads its configuration once
    per process and sees only the tokens that existed then (objects added later are seen):
    set SOFTHSM2_CONF=<dir>/softhsm2.conf in the signing process before it first opens the
    module. Returns the seal settings that open the key.
    """
    if pki.seal is None:
        raise SealUnavailable(str(pki.folder), "the PKI has no seal key to import")
    seal = pki.seal.certificate
    key_label = key_label or f"seal-{seal.sha256.hex()[:12]}"
    key_id = seal.sha256.hex()[:8]
    tokens = softhsm_conf_dir / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = softhsm_conf_dir / "softhsm2.conf"
    if not conf.exists():
        conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                        "log.level = ERROR\nslots.removable = false\n", encoding="utf-8")
    env = {"SOFTHSM2_CONF": str(conf), "PATH": "/usr/bin:/bin"}
    where = f"SoftHSM2 token {token_label!r}"
    try:
        slots = subprocess.run(["softhsm2-util", "--show-slots"], env=env, check=True,
                               capture_output=True, text=True).stdout
        if not any(line.split(":", 1)[-1].strip() == token_label
                   for line in slots.splitlines() if line.strip().startswith("Label:")):
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", token_label,
                            "--pin", pin, "--so-pin", so_pin],
                           env=env, check=True, capture_output=True, text=True)
        certs = [seal]
        if _pkcs11_child(module, env, token_label, pin, key_label, key_id, certs,
                         store=False) == "absent":
            subprocess.run(["softhsm2-util", "--import", str(pki.seal.key_path), "--token",
                            token_label, "--label", key_label, "--id", key_id, "--pin", pin],
                           env=env, check=True, capture_output=True, text=True)
            _pkcs11_child(module, env, token_label, pin, key_label, key_id, certs, store=True)
    except (OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        raise SealUnavailable(where, f"import failed: {detail}") from e
    return SealSettings(kind="pkcs11", pkcs11_module=module, pkcs11_token_label=token_label,
                        pkcs11_key_label=key_label, pkcs11_pin=pin)


_PKCS11_CHILD = """
import json, sys
import pkcs11
from pkcs11 import Attribute, CertificateType, ObjectClass
job = json.load(sys.stdin)
token = pkcs11.lib(job["module"]).get_token(token_label=job["token"])
with token.open(rw=True, user_pin=job["pin"]) as session:
    found = list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,
                                      Attribute.LABEL: job["certs"][0]["label"]}))
    if not job["store"]:
        print("present" if found else "absent")
        sys.exit(0)
    for cert in job["certs"]:
        session.create_object({
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True,
            Attribute.LABEL: cert["label"],
            Attribute.ID: bytes.fromhex(cert["id"]),
            Attribute.SUBJECT: bytes.fromhex(cert["subject"]),
            Attribute.ISSUER: bytes.fromhex(cert["issuer"]),
            Attribute.SERIAL_NUMBER: bytes.fromhex(cert["serial"]),
            Attribute.VALUE: bytes.fromhex(cert["der"]),
        })
"""


def _pkcs11_child(module: Path, env: dict[str, str], token_label: str, pin: str,
                  key_label: str, key_id: str, certs: list[asn1_x509.Certificate], *,
                  store: bool) -> str:
    """Look for (store=False) or store the seal certificate in the token (as `key_label`)."""
    # In a child process: SoftHSM2 reads SOFTHSM2_CONF once, when a process first loads it,
    # and python-pkcs11 never unloads it; this process must stay free to choose its own conf.
    job = {
        "module": str(module), "token": token_label, "pin": pin, "store": store,
        "certs": [{
            "label": key_label if index == 0 else f"{key_label}-chain-{index}",
            "id": key_id if index == 0 else f"{key_id}{index:02x}",
            "subject": cert.subject.dump().hex(),
            "issuer": cert.issuer.dump().hex(),
            "serial": cert["tbs_certificate"]["serial_number"].dump().hex(),
            "der": cert.dump().hex(),
        } for index, cert in enumerate(certs)],
    }
    return subprocess.run([sys.executable, "-c", _PKCS11_CHILD], input=json.dumps(job),
                          env=env, check=True, capture_output=True, text=True).stdout.strip()
