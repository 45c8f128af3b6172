"""Personal data in text: `PIIDetector` finds e-mail addresses, phone numbers, payment cards, IBANs, IP addresses,
national id numbers and (with a locally installed spaCy pipeline) person names, and redacts them.

Detection is presidio-analyzer's recognizers (patterns plus checksums: Luhn for cards, mod-97 for IBANs, each
national id's own check digits), run without an NLP model (presidio's no-op engine) unless names are asked for.
Nothing is downloaded at run time: e-mail domains are checked against tldextract's bundled public-suffix snapshot
and a spaCy pipeline is used only when it is already installed (a package name or a folder).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semantic_router.errors import ConfigError
from semantic_router.extras import extra

__all__ = ["KINDS", "Finding", "PIIDetector"]

#: what each kind of personal data is, in presidio's entity names (national ids: those with a format or a
#: checksum strict enough to stand without context words)
KINDS: dict[str, tuple[str, ...]] = {
    "email": ("EMAIL_ADDRESS",),
    "phone": ("PHONE_NUMBER",),
    "card": ("CREDIT_CARD",),
    "iban": ("IBAN_CODE",),
    "ip": ("IP_ADDRESS",),
    "national_id": ("US_SSN", "US_ITIN", "UK_NINO", "CA_SIN", "AU_TFN", "IN_AADHAAR", "ES_NIF", "ES_NIE",
                    "IT_FISCAL_CODE", "PL_PESEL", "FI_PERSONAL_IDENTITY_CODE", "SE_PERSONNUMMER", "SG_NRIC_FIN"),
    "person": ("PERSON",),
}
DEFAULT_KINDS = ("email", "phone", "card", "iban", "ip", "national_id")
_KIND_OF = {entity: kind for kind, entities in KINDS.items() for entity in entities}
# national id recognizers and the class presidio gives each (they are built for English text here)
_NATIONAL = {"US_SSN": "UsSsnRecognizer", "US_ITIN": "UsItinRecognizer", "UK_NINO": "UkNinoRecognizer",
             "CA_SIN": "CaSinRecognizer", "AU_TFN": "AuTfnRecognizer", "IN_AADHAAR": "InAadhaarRecognizer",
             "ES_NIF": "EsNifRecognizer", "ES_NIE": "EsNieRecognizer", "IT_FISCAL_CODE": "ItFiscalCodeRecognizer",
             "PL_PESEL": "PlPeselRecognizer", "FI_PERSONAL_IDENTITY_CODE": "FiPersonalIdentityCodeRecognizer",
             "SE_PERSONNUMMER": "SePersonnummerRecognizer", "SG_NRIC_FIN": "SgFinRecognizer"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data: its kind (a key of `KINDS`), its span `text[start:end]`, presidio's score
    (1.0 once a checksum or validation passed) and presidio's entity name (e.g. `US_SSN`)."""

    kind: str
    start: int
    end: int
    score: float
    entity: str = ""


def _check_kinds(entities: Iterable[str] | None) -> tuple[str, ...]:
    kinds = tuple(DEFAULT_KINDS if entities is None else entities)
    if isinstance(entities, str):
        raise ConfigError(f"entities must be a list of kinds, not the string {entities!r}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"unknown personal-data kind(s) {unknown}; known: {sorted(KINDS)}")
    if not kinds:
        raise ConfigError("entities: give at least one kind of personal data")
    return tuple(dict.fromkeys(kinds))


def _spacy_pipeline_installed(name: str) -> bool:
    """True when `name` is an installed spaCy pipeline package or a folder holding one (never downloads)."""
    return Path(name).is_dir() or importlib.util.find_spec(name.replace("-", "_")) is not None


def _offline_email_recognizer(presidio: Any) -> Any:
    """presidio's e-mail recognizer, validating the domain with tldextract's bundled suffix list instead of
    the default extractor (which fetches the list from the network on first use)."""
    import tldextract

    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(presidio.EmailRecognizer):  # type: ignore[misc,unused-ignore]  # presidio is untyped
        def validate_result(self, pattern_text: str) -> bool:
            return bool(offline(pattern_text.rpartition("@")[2]).suffix)

    return OfflineEmailRecognizer()


def _card_recognizer(presidio: Any, pattern: Any) -> Any:
    """presidio's card recognizer (Luhn-checked), with Mastercard's 2221-2720 range its patterns lack."""
    two_series = pattern("Card (Mastercard 2-series)", r"\b(2[2-7]\d{2})[- ]?(\d{4})[- ]?(\d{4})[- ]?(\d{4})\b", 0.3)
    return presidio.CreditCardRecognizer(patterns=[*presidio.CreditCardRecognizer.PATTERNS, two_series])


def _recognizers(entities: Sequence[str], presidio: Any, pattern: Any) -> list[Any]:
    built: list[Any] = []
    makers: dict[str, Callable[[], Any]] = {
        "EMAIL_ADDRESS": lambda: _offline_email_recognizer(presidio),
        "PHONE_NUMBER": presidio.PhoneRecognizer,
        "CREDIT_CARD": lambda: _card_recognizer(presidio, pattern),
        "IBAN_CODE": presidio.IbanRecognizer,
        "IP_ADDRESS": presidio.IpRecognizer,
    }
    for entity in entities:
        if entity in makers:
            built.append(makers[entity]())
        elif entity in _NATIONAL:
            built.append(getattr(presidio, _NATIONAL[entity])(supported_language="en"))
    return built


class PIIDetector:
    """Finds personal data of the kinds in `entities` (default: every kind but `person`) scoring at least
    `min_score`; `find(text)` lists them, `redact(text)` replaces each with `<KIND>`.

    `person` needs a spaCy pipeline with a named-entity recognizer that is already installed: `names_model`
    is its package name (e.g. `en_core_web_sm`) or a folder; ConfigError when it is missing (nothing is
    downloaded). Needs the `guards` extra."""

    def __init__(self, entities: Iterable[str] | None = None, min_score: float = 0.4,
                 names_model: str | None = None) -> None:
        if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0.0 <= min_score <= 1.0:
            raise ConfigError(f"min_score must be a number in [0, 1], got {min_score!r}")
        self.kinds = _check_kinds(entities)
        self.min_score = float(min_score)
        self.entities = [e for k in self.kinds for e in KINDS[k]]
        with extra("guards", "PIIDetector"):
            import presidio_analyzer as analyzer
            from presidio_analyzer import predefined_recognizers as presidio
            from presidio_analyzer.nlp_engine import NoOpNlpEngine, SpacyNlpEngine
        registry = analyzer.RecognizerRegistry(recognizers=_recognizers(self.entities, presidio, analyzer.Pattern),
                                               supported_languages=["en"])
        if "person" in self.kinds:
            if names_model is None or not _spacy_pipeline_installed(names_model):
                raise ConfigError(
                    "personal-data kind 'person' needs an installed spaCy pipeline with named entities "
                    f"(names_model: a package name or folder); {names_model!r} is not installed, and none is "
                    "downloaded at run time (spaCy's English pipelines are not on PyPI)")
            engine: Any = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": names_model}])
            registry.add_recognizer(presidio.SpacyRecognizer(supported_entities=["PERSON"]))
        else:
            engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
        engine.load()
        self.analyzer = analyzer.AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])

    def find(self, text: str) -> list[Finding]:
        """The personal data in `text`, by position; overlapping detections keep the most certain one."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        if not text.strip():
            return []
        results = self.analyzer.analyze(text=text, language="en", entities=self.entities,
                                        score_threshold=self.min_score)
        ranked = sorted(results, key=lambda r: (-r.score, r.start - r.end, r.start))
        kept: list[Finding] = []
        for r in ranked:
            if all(r.end <= f.start or r.start >= f.end for f in kept):
                kept.append(Finding(_KIND_OF[r.entity_type], r.start, r.end, float(r.score), r.entity_type))
        return sorted(kept, key=lambda f: f.start)

    def redact(self, text: str, findings: Sequence[Finding] | None = None) -> str:
        """`text` with every finding replaced by `<KIND>` (e.g. `<EMAIL>`); `findings`: from `find(text)`."""
        found = self.find(text) if findings is None else sorted(findings, key=lambda f: f.start)
        out, at = [], 0
        for f in found:
            out += [text[at:f.start], f"<{f.kind.upper()}>"]
            at = f.end
        return "".join(out) + text[at:]
