"""The rule catalogue ("matters"): what earns or costs points, as versioned data per county with village items."""
