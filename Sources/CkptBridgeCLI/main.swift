print("ckpt-bridge")
