"""Monte Carlo risk: distributions, samplers, correlation, simulation, summaries, sensitivity."""
