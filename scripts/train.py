"""Train a digitpad model on MNIST: python scripts/train.py --help"""
from digitpad.train import main

if __name__ == "__main__":
    main()
