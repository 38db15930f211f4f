"""Front-ends over the workflow: the ``nbprod`` command line and the JupyterLab panel."""
