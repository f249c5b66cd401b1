"""`voicelens sink`: a local webhook receiver for demos, tests and fault rehearsal."""
