"""The zoo's model names, torch-free: the command line lists them before anything heavy loads."""
MODEL_NAMES = ("digitcnn", "simplecnn", "bncnn", "widekernel")
DEFAULT_MODEL = "digitcnn"
