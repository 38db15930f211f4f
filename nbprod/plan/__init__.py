"""nbprod's pipeline model and how it is inferred from a notebook: steps, data flow, order, parameters."""

from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline, Step, pipeline_name

__all__ = ["Pipeline", "Step", "build_plan", "pipeline_name"]
