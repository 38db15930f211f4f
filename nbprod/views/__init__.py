"""Pictures and text made from the plan and the events: the DAG as SVG, one line per event."""
