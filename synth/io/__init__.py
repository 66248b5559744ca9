"""Files: the model file (safetensors + JSON, versioned, checksummed), the synthetic CSV, precision, memory checks."""
