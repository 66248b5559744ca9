"""Files: the model file (safetensors + JSON, versioned, checksummed) and atomic writes."""
