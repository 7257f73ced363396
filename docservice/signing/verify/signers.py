"""Who signed: the right signers, in order, each in their own field (strict policy)."""

from __future__ import annotations

import re

from docservice.domain import SIGNATURE_FIELD_NAMES, SIGNER_ROLES
from docservice.signing.verify.report import (
    INDETERMINATE,
    SIG_CONSTRAINTS_FAILURE,
    TOTAL_FAILED,
    ExpectedSignature,
    Verdict,
    incomplete_sentence,
)
from docservice.signing.verify.verification import Sig, VerificationState

#: The fields the service prepares, by role.
SERVICE_FIELDS = SIGNATURE_FIELD_NAMES
_FIELD_ROLE = re.compile(r"Signature_([a-z]+)$")


class SignerChecks(VerificationState):
    """The stage that matches signatures to the expected signers."""

    def _judge_order(self, sigs: list[Sig], document: list[Verdict]) -> None:
        """Strict policy with expectations: the right signers, in order, in their own fields."""
        expected = self.expected_effective
        signatures = [s for s in sigs if s.kind == "signature"]
        role_of_field = {name: role for role, name in (expected.field_names.items()
                                                       if expected else [])}
        for sig in signatures:
            sig.role = role_of_field.get(sig.field_name) or _role_from_field(sig.field_name) or (
                sig.check.signer_role if sig.check else None)
        if not self.policy.checks_signer_order or expected is None:
            return
        wanted = list(expected.roles_in_order)
        for position, sig in enumerate(signatures):
            if expected.due is not None and position >= expected.due:
                sig.problems.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, (
                    f"signature {position + 1} was not due: only {expected.due} signature(s) "
                    f"({', '.join(wanted[:expected.due])}) may be in the document now",)))
                continue
            if position >= len(wanted):
                sig.problems.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, (
                    f"only {len(wanted)} signature(s) were expected "
                    f"({', '.join(wanted) or 'none'}); this is signature {position + 1}",)))
                continue
            role = wanted[position]
            field_name = expected.field_names.get(role)
            if sig.field_name != field_name:
                actual = role_of_field.get(sig.field_name)
                what = (f"the {actual}'s field" if actual else "a field of no signer")
                sig.problems.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, (
                    f"signature {position + 1} should be the {role}'s, in {field_name}, but it "
                    f"is in {sig.field_name} ({what}): wrong field or out of order",)))
                continue
            sig.role = role
            given = expected.signer_names.get(role, ())
            names = (given,) if isinstance(given, str) else given
            signer = sig.check.signer_name if sig.check else None
            if names and signer is not None and _norm(signer) not in {_norm(n) for n in names}:
                sig.problems.append(Verdict(INDETERMINATE, SIG_CONSTRAINTS_FAILURE, (
                    f"signed by {signer!r}, but the {role} of this envelope is "
                    f"{' / '.join(dict.fromkeys(names))!r}: a certificate in someone else's name "
                    "that the coordinator did not accept",)))
        self.expected_signatures = tuple(
            ExpectedSignature(role, expected.field_names.get(role, ""), position < len(signatures),
                              signatures[position].check.signer_name  # type: ignore[union-attr]
                              if position < len(signatures) and signatures[position].check
                              else None)
            for position, role in enumerate(wanted))
        missing = wanted[len(signatures):]
        if missing:
            sentence = incomplete_sentence(missing)
            if expected.due is not None and len(signatures) < expected.due:
                document.append(Verdict(INDETERMINATE, SIG_CONSTRAINTS_FAILURE, (sentence,)))
            else:
                self.warnings.append(sentence)


def _role_from_field(name: str) -> str | None:
    match = _FIELD_ROLE.match(name)
    return match.group(1) if match and match.group(1) in SIGNER_ROLES else None



def _norm(name: str) -> str:
    return " ".join(name.casefold().split())
