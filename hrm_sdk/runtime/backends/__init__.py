"""Segment executors: PyTorch, ONNX Runtime and TensorRT behind one small interface (``base.Backend``)."""
