"""The nine training methods as one table of configs. One training path reads it; no
method has its own loop.

`trainer` picks the TRL trainer (sft, dpo, kto); `loss_type` is TRL's name for the
objective; `adapter` says whether the start model is trained in full, through a LoRA
adapter, or through a LoRA adapter on a 4-bit NF4 base. `reference` names the partition
whose checkpoint is the starting policy and, with the adapter disabled, the frozen
reference (DPO family and KTO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TrainerKind = Literal["sft", "dpo", "kto"]
Adapter = Literal["full", "lora", "qlora"]


@dataclass(frozen=True)
class MethodConfig:
    name: str
    trainer: TrainerKind
    phase: Literal["phase1", "phase2", "phase3"]
    adapter: Adapter
    learning_rate: float
    loss_type: str | None = None
    beta: float | None = None
    reference: str | None = None
    rounds: int = 1  # SPPO: rounds, each after the first on the current policy's own judged answers
    per_token_log_probs: bool = False  # sequence log-probs as per-token means (`per_token.py`)
    min_rows: int = 1000  # G12
    # Trains on the on-policy stage's mix of its phase with the `sft` checkpoint's own judged
    # answers (`data.stages.on_policy_dir`), not on the phase file alone.
    on_policy: bool = False

    @property
    def is_preference(self) -> bool:
        return self.trainer in ("dpo", "kto")

    @property
    def per_token_reward(self) -> bool:
        """IPO's and SPPO's losses work on log-ratios averaged over the completion's tokens
        (TRL does it for IPO, `per_token.py` for SPPO), so their reward margins are measured
        the same way; the others sum over tokens."""
        return self.loss_type == "ipo" or self.per_token_log_probs


DPO_BETA = 0.3  # MISSION: DPO's beta (APO-Zero and NCA share it)
# IPO and SPPO regress per-token log-ratios to +-1/(2 beta), so their first step's gradient
# is 1/beta times the log-ratio gradient (DPO's is beta/2 times it). On the tiny `sft` of
# the reference budget (128 steps; sharper than the 4-step one) G5 measured 1.021 for IPO
# and 1.059 for SPPO at 0.3 (0.749 and 0.816 on the 4-step `sft`); at 0.5, 0.613 and 0.635:
# a nearer target for the log-ratios, so more regularisation towards the reference.
REGRESSION_BETA = 0.5
# SPPO regresses each completion's log-ratio, as a per-token mean (`per_token.py`), to
# +-1/(2 beta); beta is 1/eta, the step of its self-play multiplicative-weights update (MISSION
# fixes beta for DPO only). Summed over tokens at TRL's default beta 0.1 the first step's
# gradient is 1/beta times the chosen-minus-rejected log-prob gradient: 52.7 on the tiny SFT
# checkpoint where DPO measured 0.79, and G5 rightly stopped it. Per token, REGRESSION_BETA.
SPPO_BETA = REGRESSION_BETA
# The preference methods train a LoRA adapter on the `sft` checkpoint, whose
# adapter-disabled self is the reference (no second model in memory). In full, their first
# step's gradient is a sum over each completion's tokens and measured 9.8 for DPO on the
# tiny model (G5 allows < 1); through the adapter 0.4-0.8 for DPO, IPO, APO-Zero, NCA and
# KTO. LoRA trains far fewer weights from a zero-initialised B matrix, so it wants ~10x
# the full-fine-tune rate (TRL's DPO default is 1e-6 for full 2B models). On the tiny
# profile's `sft` at 2e-4 for 4 steps the six adapters left 96-98% of the first bench
# turns byte-identical to SFT's (no-ops); for 8 steps of 32 rows, 71-80% at 2e-3 (DPO and
# NCA just under the no-op line) and 65-69% at 3e-3 (docs/measurements.md, "Budgets under
# which the preference methods move").
PREF_RATE = 3e-3
# SPPO regresses each completion to a fixed log-ratio over two rounds, the second on its own
# judged answers (self-play). On the embedded default's `sft`, first bench turns identical to
# `sft`'s: 80.7% at 1e-3 (a no-op), 74.5% at 1.5e-3, 65.1% at 2e-3 (significantly worse
# format validity, -6.8 points, p = 0.029); measured before SPPO's adapter was seeded, and
# 76.6% at 1.5e-3 after.
SPPO_RATE = 1.5e-3
METHODS: dict[str, MethodConfig] = {
    m.name: m
    for m in (
        MethodConfig("sft", "sft", "phase1", "full", learning_rate=2e-4),
        MethodConfig("lora", "sft", "phase1", "lora", learning_rate=2e-3),
        MethodConfig("qlora", "sft", "phase1", "qlora", learning_rate=2e-3),
        MethodConfig(
            "dpo",
            "dpo",
            "phase2",
            "lora",
            PREF_RATE,
            loss_type="sigmoid",
            beta=DPO_BETA,
            reference="sft",
            on_policy=True,
        ),
        MethodConfig(
            "ipo",
            "dpo",
            "phase2",
            "lora",
            PREF_RATE,
            loss_type="ipo",
            beta=REGRESSION_BETA,
            reference="sft",
            on_policy=True,
        ),
        MethodConfig(
            "apo_zero",
            "dpo",
            "phase2",
            "lora",
            PREF_RATE,
            loss_type="apo_zero",
            beta=DPO_BETA,
            reference="sft",
            on_policy=True,
        ),
        MethodConfig(
            "sppo",
            "dpo",
            "phase2",
            "lora",
            SPPO_RATE,
            loss_type="sppo_hard",
            beta=SPPO_BETA,
            reference="sft",
            rounds=2,
            per_token_log_probs=True,
            on_policy=True,
        ),
        MethodConfig(
            "nca",
            "dpo",
            "phase2",
            "lora",
            PREF_RATE,
            loss_type="nca_pair",
            beta=DPO_BETA,
            reference="sft",
            on_policy=True,
        ),
        MethodConfig("kto", "kto", "phase3", "lora", PREF_RATE, beta=0.1, reference="sft", on_policy=True),
    )
}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)


def is_reference(name: str) -> bool:
    """Whether other methods start from `name`'s checkpoint."""
    return any(m.reference == name for m in METHODS.values())


def get_method(name: str) -> MethodConfig:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; methods: {', '.join(METHOD_NAMES)}") from None
