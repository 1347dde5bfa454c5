"""Training pipeline and the artifacts it ships (model/artifacts/)."""
