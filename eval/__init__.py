"""wsal.eval: detection / classification metrics and reports. Pure numpy; never imports torch."""
