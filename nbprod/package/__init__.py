"""What leaves the pipeline as a service: the serving spec, the model card, the Bento templates, the drift
monitor shipped inside the Bento, and the BentoML child process."""

from nbprod.package.packager import PackageResult, package, package_plan

__all__ = ["PackageResult", "package", "package_plan"]
