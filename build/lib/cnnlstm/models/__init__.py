"""The networks as plain `nn.Module`s and the LightningModules that train them."""
