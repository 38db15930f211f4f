"""What the author wrote: the notebook's cells, their tags (the closed grammar) and the findings about them."""

from nbprod.notebook.reader import Cell, Notebook, notebook_from_cells, read_notebook

__all__ = ["Cell", "Notebook", "notebook_from_cells", "read_notebook"]
