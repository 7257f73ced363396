"""Where the trust for a verification comes from: the settings (`trust_from_settings`), which
the running service caches (Runtime.trust) and `docservice verify` reads on its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docservice.signing.verify.verification import Trust

if TYPE_CHECKING:
    from docservice.config import Settings
    from docservice.signing.pki import Pki


def trust_from_settings(settings: Settings, *, pki: Pki | None = None
                        ) -> tuple[Trust, tuple[str, ...]]:
    """Whom signatures may chain to: the service PKI's root, the configured roots
    (DOCSERVICE_TRUST_ROOTS), the EU trusted lists' store (anchors, and their services for
    qualification); and notes on what could not be loaded or was stored unverified. Needs no
    database and no PKI: without `pki`, the root and CRLs are read from `settings.pki_path`
    when it holds them (no keys are read), else there are none.

    A trusted-list store that cannot be read leaves a note instead of stopping verification:
    the service's own signatures are still checked. An unreadable trust roots file raises
    (SigningConfigurationError): it is a configuration error.
    """
    from docservice.errors import DocserviceError
    from docservice.signing.pades import configured_trust_roots
    from docservice.signing.pki import load_public
    from docservice.signing.trust import load_trust_store

    if pki is not None:
        own_roots, crls = pki.trust_roots, pki.crls
    else:
        own_roots, crls = load_public(settings.pki_path)
    notes: list[str] = []
    roots = own_roots + configured_trust_roots(settings.signatures)
    qualified: frozenset[bytes] = frozenset()
    lists = None
    try:
        store = load_trust_store(settings.trust_path)
        roots += tuple(store.roots)
        qualified = frozenset(store.qualified)
        lists = store.trusted_lists
        notes.extend(store.notes)
    except DocserviceError as e:
        notes.append(f"the EU trusted-list store could not be loaded ({e})")
    return Trust(roots=tuple(dict.fromkeys(roots)), qualified=qualified, crls=crls,
                 lists=lists), tuple(notes)

