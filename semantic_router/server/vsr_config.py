"""The vLLM Semantic Router's config format (the `routing:` / `providers:` file of its AIBrix guide), read as it
is and translated into our native gateway config mapping (which `config.parse_config` then validates).

Its models below forbid unknown keys: whatever we cannot honour is a `ConfigError` naming the key in THEIR file
(`routing.decisions[3].plugins[0].type: ...`), never silently dropped. What each key becomes is in
docs/gateway-vsr.md. The module knows nothing of our config classes: it builds plain data.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from semantic_router.errors import ConfigError

__all__ = ["VIRTUAL_MODELS", "VsrConfig", "is_vsr", "to_native"]

#: the model names a client sends to be routed (the guide's "MoM", and "auto")
VIRTUAL_MODELS = ("MoM", "auto")
_ENDPOINT = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
Effort = Literal["low", "medium", "high"]


class _Theirs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listener(_Theirs):
    name: str | None = None
    address: str
    port: int = Field(ge=0, le=65535)
    timeout: str | None = Field(default=None, pattern=_DURATION.pattern)


class ReasoningFamilySpec(_Theirs):
    type: Literal["chat_template_kwargs", "reasoning_effort"]
    parameter: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

    @model_validator(mode="after")
    def _effort_parameter(self) -> ReasoningFamilySpec:
        if self.type == "reasoning_effort" and self.parameter != "reasoning_effort":
            raise ValueError(f"parameter: type reasoning_effort sets 'reasoning_effort', not {self.parameter!r}")
        return self


class ProviderDefaults(_Theirs):
    default_model: str | None = None
    default_reasoning_effort: Effort | None = None
    reasoning_families: dict[str, ReasoningFamilySpec] = Field(default_factory=dict)


class BackendRef(_Theirs):
    name: str | None = None
    endpoint: str = Field(pattern=_ENDPOINT.pattern, description="host or host:port (the /v1 API is assumed)")
    weight: float = Field(default=1.0, gt=0)
    protocol: Literal["http", "https"] = "http"


class ProviderModel(_Theirs):
    name: str
    reasoning_family: str | None = None
    provider_model_id: str | None = None
    backend_refs: list[BackendRef] = Field(min_length=1)


class Providers(_Theirs):
    defaults: ProviderDefaults = Field(default_factory=ProviderDefaults)
    models: list[ProviderModel] = Field(min_length=1)


class DomainSignal(_Theirs):
    name: str = Field(min_length=1)
    description: str | None = None


class KeywordSignal(_Theirs):
    name: str = Field(min_length=1)
    operator: Literal["AND", "OR", "NOR"] = "OR"
    keywords: list[str] = Field(min_length=1)
    case_sensitive: bool = False


class RoutingSignals(_Theirs):
    domains: list[DomainSignal] = Field(default_factory=list)
    keywords: list[KeywordSignal] = Field(default_factory=list)


class Condition(_Theirs):
    """A leaf (`type` + `name`) or a nested group (`operator` + `conditions`)."""

    type: str | None = None
    name: str | None = None
    operator: Literal["AND", "OR"] | None = None
    conditions: list[Condition] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        leaf, group = (self.type, self.name), (self.operator, self.conditions)
        if all(v is not None for v in leaf) and all(v is None for v in group):
            return self
        if all(v is not None for v in group) and all(v is None for v in leaf):
            return self
        raise ValueError("a condition is either {type, name} or a group {operator, conditions}")


class Rules(_Theirs):
    operator: Literal["AND", "OR"]
    conditions: list[Condition] = Field(min_length=1)


class ModelRef(_Theirs):
    model: str
    use_reasoning: bool = False
    reasoning_effort: Effort | None = None


class Plugin(_Theirs):
    type: str
    configuration: dict[str, Any] = Field(default_factory=dict)


class SystemPromptOptions(_Theirs):
    enabled: bool = True
    system_prompt: str = Field(min_length=1)
    mode: Literal["replace", "prepend", "append"] = "replace"


class SemanticCacheOptions(_Theirs):
    enabled: bool = True
    similarity_threshold: float | None = Field(default=None, gt=0.0, le=1.0)


class Decision(_Theirs):
    name: str
    description: str | None = None
    priority: int = 0
    rules: Rules
    modelRefs: list[ModelRef] = Field(min_length=1, max_length=1,  # noqa: N815  (their key)
                                      description="one model per decision (several: not supported)")
    plugins: list[Plugin] = Field(default_factory=list)


class Routing(_Theirs):
    signals: RoutingSignals = Field(default_factory=RoutingSignals)
    decisions: list[Decision] = Field(default_factory=list)


class RouterSettings(_Theirs):
    strategy: Literal["priority"] = "priority"


class GlobalSettings(_Theirs):
    router: RouterSettings = Field(default_factory=RouterSettings)


class VsrConfig(_Theirs):
    """The whole file: version, listeners, providers (models, reasoning families), routing (signals, decisions)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    version: str | None = None
    listeners: list[Listener] = Field(default_factory=list, max_length=1)
    providers: Providers
    routing: Routing
    global_: GlobalSettings | None = Field(default=None, alias="global")
    strategy: Literal["priority"] | None = None  # the older files' top-level spelling of global.router.strategy


def is_vsr(data: Any) -> bool:
    """True for a mapping in the vLLM Semantic Router's format (it has `routing:` or `providers:`, which ours
    never has)."""
    return isinstance(data, dict) and ("routing" in data or "providers" in data)


def to_native(data: Any, source: str = "config") -> dict[str, Any]:
    """Our native gateway config (plain data) for a vLLM Semantic Router config; ConfigError naming the key of
    their file for anything that is malformed or that we cannot honour."""
    try:
        cfg = VsrConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid vLLM Semantic Router config: " + "; ".join(_messages(exc))) from None
    problems: list[str] = []
    out = _Translation(cfg, problems).native()
    if problems:
        raise ConfigError(f"{source}: invalid vLLM Semantic Router config: " + "; ".join(problems))
    return out


class _Translation:
    """One config's translation; cross-reference problems collect in `problems` as 'their.key: message'."""

    def __init__(self, cfg: VsrConfig, problems: list[str]) -> None:
        self.cfg = cfg
        self.problems = problems
        self.models = {m.name: m for m in cfg.providers.models}
        self.families = cfg.providers.defaults.reasoning_families
        self.domains = {d.name for d in cfg.routing.signals.domains}
        self.keywords = {k.name for k in cfg.routing.signals.keywords}

    def native(self) -> dict[str, Any]:
        cfg = self.cfg
        out: dict[str, Any] = {}
        if cfg.listeners:
            out["server"] = {"host": cfg.listeners[0].address, "port": cfg.listeners[0].port}
        taken = set(self.models)
        out["virtual_models"] = [v for v in VIRTUAL_MODELS if v not in taken] or list(VIRTUAL_MODELS[:1])
        out["models"] = self._models()
        signals: dict[str, Any] = {}
        if cfg.routing.signals.domains:
            signals["domains"] = [d.name for d in cfg.routing.signals.domains]
        if cfg.routing.signals.keywords:
            signals["keywords"] = [_keywords(k) for k in cfg.routing.signals.keywords]
        out["decisions"] = [self._decision(i, d) for i, d in enumerate(cfg.routing.decisions)]
        if any("cache" in d.get("plugins", {}) for d in out["decisions"]):
            # a semantic cache embeds prompts with the routes' encoder: an empty route set loads the bundled one
            signals["routes"] = {"router": {"routes": []}}
        if signals:
            out["signals"] = signals
        out["tie_break"] = "order"  # strategy: priority, ties to the first declared
        return out

    def _models(self) -> dict[str, Any]:
        defaults = self.cfg.providers.defaults
        names = list(self.models)
        if defaults.default_model is not None:
            if defaults.default_model not in self.models:
                self.problems.append(f"providers.defaults.default_model: unknown model {defaults.default_model!r}")
            else:  # our built-in default decision uses the first model
                names.remove(defaults.default_model)
                names.insert(0, defaults.default_model)
        timeout = self.cfg.listeners[0].timeout if self.cfg.listeners else None
        out: dict[str, Any] = {}
        for name in names:
            m = self.models[name]
            i = self.cfg.providers.models.index(m)
            native: dict[str, Any] = {"backends": [
                {"base_url": f"{b.protocol}://{b.endpoint}/v1", "weight": b.weight} for b in m.backend_refs]}
            if timeout is not None:
                native["timeout"] = _seconds(timeout)
            if m.provider_model_id is not None:
                native["upstream_name"] = m.provider_model_id
            if m.reasoning_family is not None:
                family = self.families.get(m.reasoning_family)
                if family is None:
                    self.problems.append(f"providers.models[{i}].reasoning_family: {m.reasoning_family!r} is not "
                                         f"in providers.defaults.reasoning_families {sorted(self.families)}")
                else:
                    native["reasoning_family"] = family.type
                    if family.type == "chat_template_kwargs" and family.parameter != "enable_thinking":
                        native["reasoning_parameter"] = family.parameter
            out[name] = native
        return out

    def _decision(self, i: int, d: Decision) -> dict[str, Any]:
        where = f"routing.decisions[{i}]"
        ref = d.modelRefs[0]
        native: dict[str, Any] = {"name": d.name, "priority": d.priority,
                                  "rule": self._rule(d.rules.operator, d.rules.conditions, f"{where}.rules"),
                                  "model": ref.model}
        model = self.models.get(ref.model)
        if model is None:
            self.problems.append(f"{where}.modelRefs[0].model: unknown model {ref.model!r} "
                                 f"(providers.models has {sorted(self.models)})")
        elif model.reasoning_family in self.families:  # no family: reasoning is never switched (as theirs)
            native["reasoning"] = "on" if ref.use_reasoning else "off"
            effort = ref.reasoning_effort or self.cfg.providers.defaults.default_reasoning_effort
            if ref.use_reasoning and effort is not None and self.families[model.reasoning_family].type == \
                    "reasoning_effort":
                native["reasoning_effort"] = effort
        seen: set[str] = set()
        for j, plugin in enumerate(d.plugins):
            key = f"{where}.plugins[{j}]"
            if plugin.type in seen:
                self.problems.append(f"{key}.type: a second {plugin.type!r} plugin in one decision")
            seen.add(plugin.type)
            self._plugin(plugin, key, native)
        return native

    def _rule(self, operator: str, conditions: list[Condition], where: str) -> dict[str, Any]:
        children = []
        for j, c in enumerate(conditions):
            key = f"{where}.conditions[{j}]"
            if c.conditions is not None and c.operator is not None:
                children.append(self._rule(c.operator, c.conditions, key))
            elif c.type == "domain":
                if c.name not in self.domains:
                    self.problems.append(f"{key}.name: domain {c.name!r} is not declared in routing.signals.domains")
                children.append({"signal": f"domain:{c.name}"})
            elif c.type == "keyword":
                if c.name not in self.keywords:
                    self.problems.append(f"{key}.name: keyword set {c.name!r} is not declared in "
                                         "routing.signals.keywords")
                children.append({"signal": f"keywords:{c.name}"})
            else:
                self.problems.append(f"{key}.type: condition type {c.type!r} is not supported (domain, keyword)")
        return {"and" if operator == "AND" else "or": children}

    def _plugin(self, plugin: Plugin, key: str, native: dict[str, Any]) -> None:
        if plugin.type == "system_prompt":
            opts = self._options(SystemPromptOptions, plugin, key)
            if opts is not None and opts.enabled:
                mode = {"replace": "replace_all", "prepend": "insert", "append": "append"}[opts.mode]
                native["system_prompt"] = {"content": opts.system_prompt, "mode": mode}
        elif plugin.type == "semantic-cache":
            cache = self._options(SemanticCacheOptions, plugin, key)
            if cache is not None and cache.enabled:
                options: dict[str, Any] = {"mode": "semantic"}
                if cache.similarity_threshold is not None:
                    options["similarity_threshold"] = cache.similarity_threshold
                native["plugins"] = {"cache": options}
        else:
            self.problems.append(f"{key}.type: plugin {plugin.type!r} is not supported (system_prompt, semantic-cache)")

    def _options(self, model: type[_Theirs], plugin: Plugin, key: str) -> Any:
        try:
            return model.model_validate(plugin.configuration)
        except ValidationError as exc:
            self.problems += [f"{key}.configuration.{m}" for m in _messages(exc)]
            return None


def _keywords(k: KeywordSignal) -> dict[str, Any]:
    out: dict[str, Any] = {"name": k.name, "words": list(k.keywords),
                           "match": {"OR": "any", "AND": "all", "NOR": "none"}[k.operator]}
    if k.case_sensitive:
        out["case_sensitive"] = True
    return out


def _seconds(duration: str) -> float:
    match = _DURATION.match(duration)
    assert match is not None  # the field's pattern checked it
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _messages(exc: ValidationError) -> list[str]:
    """'dotted.key[0]: message' per error, the keys as their file spells them."""
    out = []
    for err in exc.errors():
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "not supported by this gateway (unknown key; see docs/gateway-vsr.md)"
        out.append(f"{path or '(top level)'}: {message}")
    return out
