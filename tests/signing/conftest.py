"""A throwaway dev PKI, a signer and a three-party signed contract, built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docservice.signing.certificates import SignerIdentity
from docservice.signing.pades import PadesSigner
from docservice.signing.pki import Pki, init_dev_pki
from tests.signing.samples import contract_pdf, field_name

STUDENT = SignerIdentity(full_name="Anaïs Łukasiewicz-Peeters", email="anais.peeters@student.example",
                         role="student", organisation="Thomas More")
MENTOR = SignerIdentity(full_name="Bram Janssens", email="bram.janssens@acme.example",
                        role="company", organisation="ACME nv")
COORDINATOR = "Carla Coördinator"


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("signatures") / "dev"
    init_dev_pki(folder)
    return folder


@pytest.fixture(scope="session")
def pki(pki_dir: Path) -> Pki:
    return Pki.load(pki_dir)


@pytest.fixture(scope="session")
def pades(pki: Pki) -> Iterator[PadesSigner]:
    with PadesSigner(pki) as signer:
        yield signer


@dataclass(frozen=True)
class SignedContract:
    """Every revision of one contract: unsigned, then after student, company and school."""

    unsigned: bytes
    by_student: bytes
    by_company: bytes
    by_school: bytes

    @property
    def revisions(self) -> list[bytes]:
        return [self.unsigned, self.by_student, self.by_company, self.by_school]


@pytest.fixture(scope="session")
def signed_contract(pades: PadesSigner) -> SignedContract:
    unsigned = contract_pdf()
    (by_student,) = pades.sign_as(STUDENT, [(unsigned, field_name("student"))]).pdfs
    (by_company,) = pades.sign_as(MENTOR, [(by_student, field_name("company"))]).pdfs
    (by_school,) = pades.seal_documents([(by_company, field_name("school"))],
                                        approved_by=COORDINATOR)
    return SignedContract(unsigned, by_student, by_company, by_school)
