import Distributed
let world = Communicator.world()
if world.isRoot { print("bert-pretrain: \(world.size) rank(s)") }
world.finalize()
