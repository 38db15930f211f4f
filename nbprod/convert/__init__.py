"""What is generated from the plan: ``pipelines/<name>/`` (pipeline.yaml, one task script per step, README)."""

from nbprod.convert.render import ConvertResult, convert, render_pipeline

__all__ = ["ConvertResult", "convert", "render_pipeline"]
