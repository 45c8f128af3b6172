"""Gateway configuration: strict pydantic models and `load_config(path)`.

Every section forbids unknown keys; a bad field raises `ConfigError` whose message names its dotted
path (e.g. `decisions[2].rule.and[0].signal`). YAML aliases are refused (no alias bombs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from semantic_router.errors import ConfigError
from semantic_router.server.act.health_config import BalancingConfig
from semantic_router.server.operate.sync_config import ConfigSyncConfig
from semantic_router.server.extproc.config import ExtProcConfig
from semantic_router.server.guards_config import (
    ClassifierSignal,
    GuardConfig,
    classifier_specs,
    learned_problems,
    unknown_signal,
)
from semantic_router.server.ingress.limits_config import LimitsConfig
from semantic_router.server.paths import confine

__all__ = [
    "SIGNAL_TYPES",
    "BackendConfig",
    "ClusterConfig",
    "DecisionConfig",
    "GatewayConfig",
    "ModelConfig",
    "ReasoningFamily",
    "RuleNode",
    "check_route_references",
    "load_config",
    "loads_config",
    "parse_config",
]

SIGNAL_TYPES = ("routes", "keywords", "context", "guard", "classifier")  # and each classifier's name
ReasoningFamily = Literal["none", "chat_template_kwargs", "thinking", "reasoning_effort"]
#: the client APIs the gateway routes (ingress/apis.py) and a model's backends may serve
Api = Literal["chat", "completions", "responses", "messages", "embeddings"]
DEFAULT_APIS: tuple[Api, ...] = ("chat", "completions", "responses", "embeddings")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{what} {value!r} must be 1-128 characters of letters, digits and ._:/@+-")
    return value


Name = Annotated[str, AfterValidator(lambda v: _check_name(v, "name"))]


class BackendConfig(_Strict):
    """One OpenAI-compatible server of a model; its key is read from the environment variable `api_key_env`."""

    base_url: str
    api_key_env: str | None = None
    weight: float = Field(default=1.0, gt=0)
    auth: Literal["bearer", "x-api-key"] = Field(default="bearer", description="how the key is sent: "
                                                 "`authorization: Bearer` (OpenAI style) or `x-api-key` (Anthropic)")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"base_url must be an http(s) URL, got {v!r}")
        return v.rstrip("/")


class ModelConfig(_Strict):
    """A model the gateway can forward to: one or more backends, a timeout and its reasoning switch."""

    backends: list[BackendConfig] = Field(min_length=1)
    timeout: float = Field(default=60.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    stream_idle_timeout: float | None = Field(default=None, gt=0, description="seconds a streamed answer may go "
                                              "without a byte before it is ended with an error (default: timeout)")
    reasoning_family: ReasoningFamily = "none"
    reasoning_parameter: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                                            description="chat_template_kwargs family: the switch's key "
                                                        "(default enable_thinking; DeepSeek's: thinking)")
    upstream_name: str | None = Field(default=None, description="model name sent upstream (default: this name)")
    apis: list[Api] = Field(default_factory=lambda: list(DEFAULT_APIS), min_length=1,
                            description="the client APIs its backends serve (Anthropic's `messages` only if listed)")
    balancing: BalancingConfig | None = None  # fields set here replace the gateway-wide `balancing:` ones


class KeywordSet(_Strict):
    """A named set of words, phrases or regexes, matched case-insensitively unless `case_sensitive`."""

    name: Name
    words: list[str] = Field(min_length=1)
    regex: bool = False
    match: Literal["any", "all", "none"] = "any"
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _patterns(self) -> KeywordSet:
        for i, w in enumerate(self.words):
            if not w.strip():
                raise ValueError(f"words[{i}] is empty")
            if self.regex:
                try:
                    re.compile(w)
                except re.error as exc:
                    raise ValueError(f"words[{i}] is not a valid regex {w!r}: {exc}") from exc
        return self


class ContextRange(_Strict):
    """A named token-length range of the conversation: matched when min_tokens <= length < max_tokens."""

    name: Name
    min_tokens: int = Field(default=0, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _order(self) -> ContextRange:
        if self.max_tokens is not None and self.max_tokens <= self.min_tokens:
            raise ValueError(f"max_tokens ({self.max_tokens}) must be greater than min_tokens ({self.min_tokens})")
        return self


class RoutesSignal(_Strict):
    """The semantic routes: a router file (`path`: YAML/JSON config or saved .pkl) or an inline router config
    (`router`: the library's config format: routes, encoder, index, thresholds). `auto_sync: remote` shares the
    routes through the remote index named in the config."""

    path: str | None = None
    router: dict[str, Any] | None = None
    auto_sync: Literal["remote"] | None = None
    refresh_seconds: float = Field(default=5.0, gt=0.0, le=3600.0,
                                   description="with auto_sync: how often to adopt route changes of other replicas")

    @model_validator(mode="after")
    def _one_source(self) -> RoutesSignal:
        if (self.path is None) == (self.router is None):
            raise ValueError("give exactly one of 'path' or 'router'")
        return self


class Signals(_Strict):
    routes: RoutesSignal | None = None
    keywords: list[KeywordSet] = Field(default_factory=list)
    context: list[ContextRange] = Field(default_factory=list)
    classifiers: list[ClassifierSignal] = Field(default_factory=list)
    domains: list[str] | None = Field(default=None, description="the built-in domain classifier's domains")

    @property
    def learned(self) -> list[ClassifierSignal]:
        """Every classifier signal, `domains` included."""
        return classifier_specs(self.classifiers, self.domains)

    @model_validator(mode="after")
    def _unique(self) -> Signals:
        for kind in ("keywords", "context"):
            names = [s.name for s in getattr(self, kind)]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"duplicate {kind} signal name(s): {sorted(dup)}")
        return self


class RuleNode(_Strict):
    """A rule tree: exactly one of `signal` ("type:name"), `and`, `or`, `not`; an empty rule matches everything."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    signal: str | None = None
    all_of: list[RuleNode] | None = Field(default=None, alias="and")
    any_of: list[RuleNode] | None = Field(default=None, alias="or")
    not_: RuleNode | None = Field(default=None, alias="not")

    @field_validator("signal")
    @classmethod
    def _signal(cls, v: str | None) -> str | None:
        if v is None:
            return v
        kind, sep, name = v.partition(":")
        if not sep or not kind or not name:
            raise ValueError(f"signal must be 'TYPE:NAME' with TYPE one of {', '.join(SIGNAL_TYPES)} or a "
                             f"classifier's name; got {v!r}")
        return v

    @model_validator(mode="after")
    def _one(self) -> RuleNode:
        given = [k for k in ("signal", "all_of", "any_of", "not_") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError("a rule node holds exactly one of signal, and, or, not")
        for key in ("all_of", "any_of"):
            if getattr(self, key) == []:
                raise ValueError(f"'{key[:-3] if key == 'all_of' else 'or'}' needs at least one rule")
        return self

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, k) is None for k in ("signal", "all_of", "any_of", "not_"))

    def signals(self) -> list[str]:
        """Every "type:name" leaf of the tree."""
        if self.signal is not None:
            return [self.signal]
        children = (self.all_of or []) + (self.any_of or []) + ([self.not_] if self.not_ else [])
        return [s for c in children for s in c.signals()]


class WeightedModel(_Strict):
    name: str
    weight: float = Field(default=1.0, gt=0)


class SystemPrompt(_Strict):
    """`insert`: a new system message before any existing one; `append`: one after the last existing one;
    `replace`: the first system message's content; `replace_all`: every system message dropped, the new one first."""

    content: str = Field(min_length=1)
    mode: Literal["insert", "append", "replace", "replace_all"] = "insert"


class DecisionConfig(_Strict):
    """A routing decision: when its rule matches, send the request to its model with these rewrites."""

    name: Name
    priority: int = 0
    rule: RuleNode = Field(default_factory=RuleNode)
    model: str | None = None
    models: list[WeightedModel] | None = None
    reasoning: Literal["on", "off"] | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    system_prompt: SystemPrompt | None = None
    fallback: str | None = None
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("reasoning", mode="before")
    @classmethod
    def _yaml_bool(cls, v: Any) -> Any:  # YAML 1.1 reads a bare `on`/`off` as a boolean
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @field_validator("plugins")
    @classmethod
    def _plugins(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from semantic_router.server.act.plugins import build_plugin

        for name, options in v.items():
            build_plugin(name, options)  # ValueError names an unknown plugin or bad options
        return v

    @model_validator(mode="after")
    def _one_model(self) -> DecisionConfig:
        if (self.model is None) == (self.models is None):
            raise ValueError("give exactly one of 'model' or 'models' (weighted)")
        if self.models is not None and not self.models:
            raise ValueError("'models' needs at least one entry")
        return self

    def model_names(self) -> list[str]:
        return [self.model] if self.model is not None else [m.name for m in self.models or []]


class SessionConfig(_Strict):
    """Sticky conversations: a conversation stays on its decision unless a new turn clearly belongs elsewhere."""

    enabled: bool = True
    header: str = "x-session-id"
    ttl_seconds: float = Field(default=1800.0, gt=0)
    max_sessions: int = Field(default=100_000, gt=0)
    switch_confidence: float = Field(default=0.5, ge=0.0, le=1.0,
                                     description="confidence a different decision needs to move a conversation")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    api_keys_env: str | None = Field(default=None, description="env var holding comma-separated gateway keys")
    api_keys_file: str | None = Field(default=None, description="file with one gateway key per line")
    batch_window_ms: float = Field(default=2.0, ge=0.0, le=50.0)
    max_batch: int = Field(default=64, gt=0)
    chars_per_token: float = Field(default=4.0, gt=0)
    admin_key_env: str | None = Field(default=None, description="env var holding the admin key (PUT /admin/*, "
                                                                "the dashboard); unset: admin endpoints are off")
    replica_id: str | None = Field(default=None, description="this replica's name in /stats (default: "
                                                             "$SR_REPLICA_ID, else host-pid)")


class ClusterConfig(_Strict):
    """Replicas on one Redis: each publishes its counters there, `/stats` adds the sum over live replicas."""

    redis_url: str = Field(pattern=r"^rediss?://")
    namespace: str = Field(default="srgw", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    publish_seconds: float = Field(default=2.0, gt=0.0, le=300.0)
    ttl_seconds: float = Field(default=10.0, gt=0.0, le=3600.0,
                               description="a replica that stopped publishing drops out of the aggregate after this")
    config_sync: ConfigSyncConfig = Field(default_factory=ConfigSyncConfig)


class GatewayConfig(_Strict):
    """The whole gateway: models, signals, decisions, virtual model names, sessions and server settings."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    virtual_models: list[str] = Field(default_factory=lambda: ["auto"], min_length=1)
    models: dict[str, ModelConfig] = Field(min_length=1)
    signals: Signals = Field(default_factory=Signals)
    guards: list[GuardConfig] = Field(default_factory=list)
    decisions: list[DecisionConfig] = Field(default_factory=list)
    default_decision: str | None = None
    tie_break: Literal["confidence", "order"] = Field(default="confidence", description="between matching decisions "
                                                      "of one priority: the higher confidence, or the first declared")
    sessions: SessionConfig = Field(default_factory=SessionConfig)
    cluster: ClusterConfig | None = None
    balancing: BalancingConfig = Field(default_factory=BalancingConfig)
    ext_proc: ExtProcConfig = Field(default_factory=ExtProcConfig)  # the Envoy external processor (extproc/)
    limits: LimitsConfig | None = None  # virtual API keys, rate limits and budgets (ingress/limits_config.py)
    # where relative paths resolve and the folder they must stay in: set by the loader, never by the config text
    _base_dir: str | None = PrivateAttr(default=None)
    _root: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        problems: list[tuple[str, str]] = []
        for name in self.models:
            try:
                _check_name(name, "model name")
            except ValueError as exc:
                problems.append((f"models.{name}", str(exc)))
        clash = set(self.virtual_models) & set(self.models)
        if clash:
            problems.append(("virtual_models", f"names are both virtual and configured models: {sorted(clash)}"))
        names = [d.name for d in self.decisions]
        known = {"keywords": {k.name for k in self.signals.keywords},
                 "context": {c.name for c in self.signals.context}}
        for i, d in enumerate(self.decisions):
            if names.count(d.name) > 1:
                problems.append((f"decisions[{i}].name", f"duplicate decision name {d.name!r}"))
            for j, m in enumerate(d.model_names()):
                if m not in self.models:
                    where = "model" if d.model is not None else f"models[{j}].name"
                    problems.append((f"decisions[{i}].{where}", f"unknown model {m!r}"))
            if d.fallback is not None and d.fallback not in self.models:
                problems.append((f"decisions[{i}].fallback", f"unknown model {d.fallback!r}"))
            for path, sig in _leaves(d.rule, f"decisions[{i}].rule"):
                kind, _, name = sig.partition(":")
                if kind == "routes" and self.signals.routes is None:
                    problems.append((path, f"{sig!r} needs signals.routes"))
                elif kind in known and name not in known[kind]:
                    problems.append((path, f"unknown {kind} signal {name!r}"))
                elif (why := unknown_signal(kind, name, self.signals.learned, self.guards, SIGNAL_TYPES)) is not None:
                    problems.append((path, why))
        problems += learned_problems(self.signals.classifiers, self.signals.domains, self.guards, set(self.models),
                                     SIGNAL_TYPES)
        if self.default_decision is not None and self.default_decision not in names:
            problems.append(("default_decision", f"unknown decision {self.default_decision!r}"))
        if problems:
            raise ConfigError("; ".join(f"{p}: {m}" for p, m in problems))
        return self

    def decision(self, name: str) -> DecisionConfig:
        return next(d for d in self.decisions if d.name == name)

    @property
    def base_dir(self) -> str | None:
        """The folder relative paths resolve against (the config file's; None for a config built in code)."""
        return self._base_dir

    @property
    def root(self) -> str | None:
        """The folder every path of this config must stay inside (None: not confined, a config built in code)."""
        return self._root

    def resolve(self, path: str, field: str = "path") -> Path:
        """A config-relative path made absolute; ConfigError naming `field` when it leads outside the root."""
        return confine(path, self._base_dir, self._root, field)


def check_route_references(config: GatewayConfig, route_names: Sequence[str]) -> None:
    """ConfigError when a decision's rule names a route the router lacks (`route_names`: its routes)."""
    names = set(route_names)
    for i, d in enumerate(config.decisions):
        for sig in d.rule.signals():
            kind, _, name = sig.partition(":")
            if kind == "routes" and name not in names:
                raise ConfigError(f"decisions[{i}].rule: unknown route {name!r} in {sig!r}; "
                                  f"the router has {sorted(names)}")


def _leaves(node: RuleNode, path: str) -> list[tuple[str, str]]:
    """(dotted path, "type:name") of every signal leaf, for error messages."""
    if node.signal is not None:
        return [(f"{path}.signal", node.signal)]
    out: list[tuple[str, str]] = []
    for key, children in (("and", node.all_of), ("or", node.any_of)):
        for i, c in enumerate(children or []):
            out += _leaves(c, f"{path}.{key}[{i}]")
    if node.not_ is not None:
        out += _leaves(node.not_, f"{path}.not")
    return out


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases, so a small file cannot expand into a huge document."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it unannotated
            raise ConfigError(f"YAML aliases are not allowed (line {event.start_mark.line + 1})")
        return super().compose_node(parent, index)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("all_of", "any_of", "not_"):
            out += "." + {"all_of": "and", "any_of": "or", "not_": "not"}[part]
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def parse_config(data: Any, source: str = "config", base_dir: str | Path | None = None,
                 root: str | Path | None = None) -> GatewayConfig:
    """Validate a mapping into a `GatewayConfig`; ConfigError names the dotted path of every bad field.
    Relative paths resolve against `base_dir` and must stay inside `root` (default: `base_dir`)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    from semantic_router.server import vsr_config  # the vLLM Semantic Router's format, translated to ours

    if vsr_config.is_vsr(data):
        data = vsr_config.to_native(data, source)
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            loc = tuple(x for x in err["loc"] if not str(x).startswith("function-"))
            parts.append(f"{_dotted(loc)}: {msg}" if loc else msg)  # cross-field checks name their own paths
        raise ConfigError(f"{source}: invalid gateway config: " + "; ".join(parts)) from None
    except ConfigError as exc:
        raise ConfigError(f"{source}: invalid gateway config: {exc}") from None
    root = root if root is not None else base_dir
    config._base_dir = None if base_dir is None else str(base_dir)
    config._root = None if root is None else str(Path(root).resolve())
    return config


def load_config(path: str | Path, root: str | Path | None = None) -> GatewayConfig:
    """Read and validate a gateway YAML (or JSON) file; relative paths in it resolve against its folder and
    must stay inside `root` (default: that folder)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read gateway config {str(p)!r}: {exc.strerror or exc}") from None
    return loads_config(text, str(p), p.resolve().parent, root)


def loads_config(text: str | bytes, source: str = "config", base_dir: str | Path | None = None,
                 root: str | Path | None = None) -> GatewayConfig:
    """Validate a gateway config given as YAML (or JSON) text, e.g. the body of `PUT /admin/config`."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text: {exc}") from None
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    except RecursionError:  # the YAML parser recurses once per level of nesting
        raise ConfigError(f"{source}: nested too deeply to read") from None
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return parse_config(data, source, base_dir, root)
