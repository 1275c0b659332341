import NetSim
print("netsim benchmark")
