"""Documents: the template catalogue, rendering, conversion and signature fields."""
