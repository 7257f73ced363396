"""What the archive writes beside each PDF: its manifest, its verification report (JSON, HTML).

Everything is canonical JSON (sorted keys, UTF-8, no spaces), so that the same facts always
give the same bytes and the same SHA-256.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

MANIFEST_FORMAT = "docservice-archive-manifest/1"
_SHA = re.compile(r"^[0-9a-f]{64}$")


def canonical_json(value: Any) -> bytes:
    """`value` as canonical JSON bytes."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode()


def pdf_key(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}.pdf"


def manifest_key(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}.manifest.json"


def report_key(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}.report.json"


def report_html_key(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}.report.html"


def object_keys(sha256: str) -> tuple[str, str, str, str]:
    """Every key of one archived document: PDF, manifest, report, readable report."""
    return pdf_key(sha256), manifest_key(sha256), report_key(sha256), report_html_key(sha256)


def report_etsi_key(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}.report.etsi.xml"


def report_pdf_key(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}.report.pdf"


def report_keys(sha256: str) -> tuple[str, str]:
    """The reports written beside the others since ETSI reports came (issue 16): the ETSI
    TS 119 102-2 XML report and the PDF rendering. Entries archived before lack them."""
    return report_etsi_key(sha256), report_pdf_key(sha256)


def all_object_keys(sha256: str) -> tuple[str, ...]:
    """`object_keys` and `report_keys`."""
    return object_keys(sha256) + report_keys(sha256)


CHECKPOINT_PREFIX = "trail/"


def checkpoint_key(entry_id: int, entry_hash: str) -> str:
    """The key of a trail checkpoint: the id and hash of an audit entry, in the name itself."""
    return f"{CHECKPOINT_PREFIX}{entry_id:012d}-{entry_hash}.json"


def checkpoint_of_key(key: str) -> tuple[int, str] | None:
    """(entry id, hash) of a checkpoint key, or None if `key` is not one."""
    if not key.startswith(CHECKPOINT_PREFIX) or not key.endswith(".json"):
        return None
    number, _, digest = key[len(CHECKPOINT_PREFIX):-len(".json")].partition("-")
    if len(number) != 12 or not number.isdigit() or not _SHA.match(digest):
        return None
    return int(number), digest


def sha_of_key(key: str) -> str | None:
    """The document SHA-256 a key belongs to, or None for a key the archive did not make."""
    name = key.rsplit("/", 1)[-1]
    sha = name.split(".", 1)[0]
    if not _SHA.match(sha) or key != f"{sha[:2]}/{name}":
        return None
    if name[64:] not in (".pdf", ".manifest.json", ".report.json", ".report.html",
                         ".report.etsi.xml", ".report.pdf"):
        return None
    return sha


def add_years(day: date, years: int) -> date:
    """The same calendar day `years` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _both(dutch: str, english: str) -> Markup:
    """A heading for every reader of an archived object: the Dutch, then the English, smaller
    (the report's text is in English, the page's language)."""
    return Markup('<span lang="nl">{}</span> <span class="en">/ {}</span>').format(dutch, english)


_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_HTML = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Verificatierapport / Verification report {{ r.pdf_sha256[:12] }}</title>
<style>body{font:14px/1.4 sans-serif;max-width:60em;margin:2em auto}td,th{border:1px solid #999;
padding:.2em .4em;text-align:left;vertical-align:top}table{border-collapse:collapse}
.ok{color:#060}.bad{color:#a00}.mono{font-family:monospace;word-break:break-all}
.en{font-size:.7em;font-weight:normal;color:#555}</style></head>
<body><main>
<h1>{{ both("Verificatierapport", "Verification report") }}</h1>
<p>Document <span class="mono">{{ r.pdf_sha256 }}</span> ({{ r.size }} bytes),
verified {{ r.verified_at }}:
<strong class="{{ 'ok' if r.verdict == 'passed' else 'bad' }}">{{ r.verdict }}</strong>,
PAdES level {{ r.pades_level or "unknown" }}.</p>
{% if r.problems %}<ul>{% for p in r.problems %}<li class="bad">{{ p }}</li>{% endfor %}</ul>{% endif %}
<h2>{{ both("Handtekeningen", "Signatures") }}</h2>
<table><tr><th>{{ both("veld", "field") }}</th><th>{{ both("ondertekenaar", "signer") }}</th>
<th>{{ both("tijdstip van ondertekening", "signing time") }}</th><th>{{ both("oordeel", "engine") }}</th>
<th>{{ both("kwalificatie", "qualification") }}</th>
<th>{{ both("lange termijn (AdES LTA)", "long-term (AdES LTA)") }}</th></tr>
{% for s in r.signatures %}<tr><td>{{ s.field_name }}</td><td>{{ s.signer or "" }}</td>
<td>{{ s.timestamp_time or s.claimed_signing_time or "" }}</td>
<td>{{ s.engine_indication or "" }}</td>
<td>{% if s.qualification %}<strong>{{ s.qualification.level }}</strong>: {{ s.qualification.reason }}{% endif %}</td>
<td>{% if s.lta %}{{ s.lta.indication }} {{ s.lta.sub_indication }}{% else %}not run{% endif %}</td></tr>{% endfor %}
</table>
<h2>{{ both("Documenttijdstempels", "Document timestamps") }}</h2>
<table><tr><th>{{ both("tijdstip", "time") }}</th><th>{{ both("tijdstempelautoriteit", "authority") }}</th>
<th>{{ both("certificaat geldig tot", "certificate valid until") }}</th>
<th>{{ both("algoritmen", "algorithms") }}</th></tr>
{% for t in r.document_timestamps %}<tr><td>{{ t.time }}</td><td>{{ t.tsa }}</td>
<td>{{ t.tsa_expires_at }}</td><td>{{ t.digest_algorithm }}, {{ t.signature_algorithm }}
{{ t.key_bits }} bits</td></tr>{% endfor %}
</table>
<h2>{{ both("Validatiegegevens (DSS)", "Validation data (DSS)") }}</h2>
<p>{% if r.dss %}{{ r.dss.certificates }} certificates, {{ r.dss.crls }} CRLs,
{{ r.dss.ocsps }} OCSP responses{% else %}none{% endif %}</p>
<h2>{{ both("Vooruitzicht op lange termijn", "Long-term outlook") }}</h2>
{% if r.long_term.method %}
<p>Validation data needed until {{ r.long_term.at }} ({{ r.long_term.method }}):
<strong class="{{ 'ok' if r.long_term.passed else 'bad' }}">{{ 'complete' if r.long_term.passed
else 'incomplete' }}</strong>{% for m in r.long_term.missing %}; {{ m }}{% endfor %}.</p>
{% else %}
<p>Simulated validation on {{ r.long_term.at }}:
<strong class="{{ 'ok' if r.long_term.passed else 'bad' }}">{{ 'passes' if r.long_term.passed
else 'does not pass' }}</strong>{% for s in r.long_term.signatures if not s.passed %};
{{ s.field_name }}: {{ s.sub_indication }}{% endfor %}.</p>
{% endif %}
<h2>{{ both("Vertrouwen", "Trust") }}</h2>
<ul>{% for t in r.trust_roots %}<li>{{ t.subject }} <span class="mono">{{ t.sha256 }}</span></li>
{% endfor %}</ul>
<p>Verification engine: {{ r.engine.name }}.</p>
</main></body></html>
""")


def render_report_html(report: Mapping[str, Any]) -> bytes:
    """A readable rendering of a verification report."""
    return _HTML.render(r=report, both=_both).encode()
