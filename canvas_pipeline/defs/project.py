"""Project-level assets: what the repository itself ships besides data and models, so the
guardrails that judge it show in the UI beside the others.

`project/container_images` is the set of images `docker/` defines (the training image with
`ENTRYPOINT ["canvas-train"]`, the Dagster pod image, the Piiranha image, compose's
services). The pipeline does not build them (`docker build` does), so it is an external
asset: it has no materialization, only G10's check, which is executed on demand (the
asset's Checks tab, "Execute") and belongs to no job: its engine layer builds the image,
which takes minutes to half an hour.
"""

from collections.abc import Iterator

import dagster as dg

from canvas_pipeline.defs.checks import blocking_results, check_description, check_name
from canvas_pipeline.guardrails.registry import by_id
from canvas_pipeline.guardrails.result import GuardrailResult, not_run

CONTAINERS_KEY = dg.AssetKey(["project", "container_images"])

container_images = dg.AssetSpec(
    key=CONTAINERS_KEY,
    group_name="project",
    kinds={"docker"},
    description=(
        "The container images docker/ defines: the training image (ENTRYPOINT canvas-train, the argv "
        "`docker run IMAGE ARG...` and compose run), the image Dagster's pods start, the Piiranha image. "
        "Built by `docker build`, not by this pipeline; G10 judges the argv each one runs and, where a "
        "container engine answers, builds the training image and runs its --help."
    ),
)


def g10_result() -> GuardrailResult:
    """G10 as `canvas-train check` runs it: layer (a) (the argv each container runs,
    composed with Docker's semantics, executed here) always; layer (b) (docker build and
    run) when an engine answers, per CANVAS_G10_ENGINE as it is when the check runs. Without
    a build G10 has no verdict: NOT RUN, with the reason."""
    from canvas_pipeline.cli_args import build_parser
    from canvas_pipeline.guardrails.g10_container import EngineSettings, g10_containers

    try:
        settings = EngineSettings.from_env()
    except ValueError as error:
        spec = by_id("G10")
        return not_run("G10", spec.name, spec.threshold, str(error))
    return g10_containers(None, settings, build_parser)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            check_name("G10"),
            asset=CONTAINERS_KEY,
            description=(
                f"{check_description('G10')}: every container's argv starts what it should; with an engine, "
                "the training image builds and `--help` exits 0. NOT RUN (not passed) without an engine."
            ),
        )
    ],
    name="container_images_G10",
)
def g10_containers_check(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
    """G10 on project/container_images: passed only when the argv of every container works
    here and the training image was built and ran `--help` with exit 0. Without a container
    engine the build layer cannot run, so the check is not passed, with the reason (NOT RUN
    is never PASS). ERROR severity; not blocking, since nothing is materialized from the
    images."""
    yield from blocking_results(context, CONTAINERS_KEY, [g10_result()])
