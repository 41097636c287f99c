"""Run-time settings, as Dagster resources: where data comes from and goes, seeds, sizes,
the model profile; and the release switches.

Nothing here reads the environment when it is imported. The Definitions' resources
(`resources` below, autoloaded from this defs folder) wire each switch to its `dg.EnvVar`
(`DATA_ENV`, `MODEL_ENV`), and `from_environment` reads them **when a run starts** (or a
sensor ticks):

- a key given in run config wins (`resources: {model: {config: {profile: e2b}}}`);
- otherwise the key's environment variable, when set and not empty;
- otherwise the class default (`out`, the demo term, `tiny`, ...).

The release's switches (`RELEASE_ENV`) are read the same way when `release/model` runs,
under its run config (`ReleaseConfig`). So a variable set or changed after the code server
loaded the code takes effect on the next run, and one set when it loaded is not baked into
any default. Why not `DataSettings(out_dir=dg.EnvVar(...))` directly: Dagster's `EnvVar` has
no fallback (an unset variable fails the run, and README command 1 sets none; dagster
issues #3947, #16232), and a `Literal` field (`profile`, `scrubber`) cannot take an
`EnvVar` at all. The config schema is the classes' own, so `profile` and `scrubber` are
enums: a wrong value in run config fails config validation, naming the allowed values,
before any step runs; a wrong value in the environment fails the run at its start, naming
the variable and the allowed values.

The Hub token is not a setting: `release.hub` reads `HF_TOKEN` from the environment at
upload time, and it never passes through config, metadata or logs.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import dagster as dg
from pydantic import Field, ValidationError

from canvas_pipeline.data.phase1.build import Phase1Config
from canvas_pipeline.data.phase2.build import Phase2Config
from canvas_pipeline.data.phase3.build import Phase3Config
from canvas_pipeline.data.phase4.build import Phase4Config

# `canvas_pipeline.training.profiles.PROFILES` and `canvas_pipeline.data.pii.SCRUBBER_KINDS`,
# spelled out so the types read as what they are (a test holds them equal).
ProfileName = Literal["tiny", "e2b", "e2b-shape"]
ScrubberKind = Literal["rule", "piiranha"]

S = TypeVar("S", bound=dg.Config)


class DataSettings(dg.ConfigurableResource):
    """Where the data stages read and write. `raw_dir` empty means the generated demo term.
    `allow_shrinkage` maps a stage folder (raw, curated, phase1, ...) to the reason it may
    keep fewer than 70% of its rows (G6); the reason is recorded with the check."""

    out_dir: str = Field(default="out", description="Folder every stage, model and report is written under.")
    raw_dir: str | None = Field(
        default=None, description="Folder of Canvas exports to ingest; empty: the generated demo term."
    )
    seed: int = 0
    scrubber: ScrubberKind = Field(
        default="rule", description="PII scrubber: rule (offline) or piiranha (the token classifier)."
    )
    piiranha_model: str | None = None
    train_size: int = 3000
    test_size: int = 400
    bench_size: int = 1200
    allow_shrinkage: dict[str, str] = {}

    @property
    def out_path(self) -> Path:
        return Path(self.out_dir).resolve()

    @property
    def raw_path(self) -> Path | None:
        return Path(self.raw_dir).resolve() if self.raw_dir else None

    def phase1_config(self) -> Phase1Config:
        return Phase1Config(seed=self.seed, train_size=self.train_size, test_size=self.test_size)

    def phase2_config(self) -> Phase2Config:
        return Phase2Config(seed=self.seed)

    def phase3_config(self) -> Phase3Config:
        return Phase3Config(seed=self.seed)

    def phase4_config(self) -> Phase4Config:
        return Phase4Config(seed=self.seed, size=self.bench_size)


class ModelSettings(dg.ConfigurableResource):
    """The model profile (tiny, e2b, e2b-shape): tokenizer, model, max_length."""

    profile: ProfileName = Field(default="tiny", description="Model and budget profile: tiny, e2b or e2b-shape.")
    # False trains even when G3 failed or did not run (recorded as skipped): for exercising
    # the training mechanics on a base that is not meant to be good, never for a release.
    require_g3: bool = Field(default=True, description="False trains even when G3 failed or did not run.")
    # Bench and eval-split items per checkpoint; unset: the profile's budget.
    bench_items: int | None = Field(default=None, description="Bench items per checkpoint; unset: the profile's.")
    selection_items: int | None = Field(
        default=None, description="Eval-split items selection is decided on; unset: the profile's."
    )


class ReleaseSettings(dg.Config):
    """Whether the release uploads, where to and how: a dry run unless `publish` is true, a
    `repo_id` is set and HF_TOKEN is in the environment (read at upload time by the domain
    code). Built by `release/model` when it runs, from its run config (`ReleaseConfig`) over
    `RELEASE_ENV` over these defaults; not a resource, so materializing the release needs no
    resource besides `data` and `model`."""

    publish: bool = Field(default=False, description="Upload the release to the Hub (needs repo_id and HF_TOKEN).")
    repo_id: str | None = Field(default=None, description="Hub repository the release is uploaded to.")
    private: bool = Field(default=True, description="Create the Hub repository private.")


DATA_ENV = {"out_dir": dg.EnvVar("CANVAS_OUT_DIR"), "raw_dir": dg.EnvVar("CANVAS_RAW_DIR")}
MODEL_ENV = {
    "profile": dg.EnvVar("CANVAS_PROFILE"),
    "require_g3": dg.EnvVar("CANVAS_REQUIRE_G3"),
    "bench_items": dg.EnvVar("CANVAS_BENCH_ITEMS"),
    "selection_items": dg.EnvVar("CANVAS_SELECTION_ITEMS"),
}
RELEASE_ENV = {
    "publish": dg.EnvVar("CANVAS_RELEASE_PUBLISH"),
    "repo_id": dg.EnvVar("CANVAS_RELEASE_REPO_ID"),
    "private": dg.EnvVar("CANVAS_RELEASE_PRIVATE"),
}


def settings_from(cls: type[S], env: Mapping[str, dg.EnvVar], given: Mapping[str, Any] | None = None) -> S:
    """`cls` built now: the `given` values, then each other field's environment variable
    (when set and not empty), then the class defaults. A value that does not fit its field
    fails with the field, the variable it came from and the allowed values."""
    given = dict(given or {})
    unknown = set(env) - set(cls.model_fields)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field {sorted(unknown)}")
    from_env = {name: value for name, var in env.items() if name not in given and (value := var.get_value())}
    try:
        return cls(**from_env, **given)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else ""
            source = f"{env[name].env_var_name}={from_env[name]!r}" if name in from_env else f"{name} in run config"
            problems.append(f"{cls.__name__}.{name} from {source}: {item['msg']}")
        raise ValueError("; ".join(problems)) from None


def from_environment(cls: type[S], env: Mapping[str, dg.EnvVar]) -> dg.ResourceDefinition:
    """`cls` as a resource read when a run starts: a key given in run config, else its
    environment variable from `env` (set and not empty), else the class default. The config
    schema is `cls`'s own (`Literal` fields are enums naming their values) with every field
    optional and no default filled in, so a key left out of run config stays out and the
    environment can fill it; each field's description says which variable it reads."""
    fields = cls.to_fields_dict()
    defaults = {name: field.default for name, field in cls.model_fields.items()}
    schema = {
        name: dg.Field(
            field.config_type, is_required=False, description=_described(field, env.get(name), defaults[name])
        )
        for name, field in fields.items()
    }

    def load(context: dg.InitResourceContext) -> S:
        return settings_from(cls, env, context.resource_config)

    load.__name__ = load.__qualname__ = f"{cls.__name__}.from_environment"  # how `dg list defs` names it
    return dg.ResourceDefinition(resource_fn=load, config_schema=schema, description=cls.__doc__)


def _described(field: dg.Field, var: dg.EnvVar | None, default: Any) -> str:
    source = f"unset: ${var.env_var_name} when the run starts, else {default!r}" if var else f"default {default!r}"
    return f"{field.description or ''} ({source})".strip()


@dg.definitions
def resources() -> dg.Definitions:
    """The resources every asset, check and sensor of the defs folder uses, each switch read
    from its `dg.EnvVar` when a run starts (see the module docstring)."""
    return dg.Definitions(
        resources={
            "data": from_environment(DataSettings, DATA_ENV),
            "model": from_environment(ModelSettings, MODEL_ENV),
        }
    )
