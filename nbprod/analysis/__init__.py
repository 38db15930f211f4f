"""One cell's code: names defined and used, imports, functions, mutations, magics, hard-coded credentials."""

from nbprod.analysis.cells import CellAnalysis, analyze_source

__all__ = ["CellAnalysis", "analyze_source"]
