/**
 * `weir/balancer`: what a balancer author needs (nginx's init_upstream /
 * init_peer / get / free): the contract, the round-robin table every
 * built-in balancer reuses, and `balancerModule()`, which makes a new method a
 * module of one weir instance (`startWeir({ modules: [balancerModule(mine)] })`).
 */
export { builtinBalancers } from '../balancer/registry.js';
export { balancerModule } from '../upstream/upstream-module.js';
export {
  initRoundRobin, RoundRobinSession, RoundRobinUpstream, TriedSet, peerFailed, peerFull, peerUsable, type RoundRobinPeer,
} from '../balancer/round-robin.js';
export {
  GetResult, PeerState,
  type BalancerContext, type BalancerModule, type BalancerRequest, type CompiledValue, type Peer, type PeerAddress,
  type PeerConnection, type PeerFactory, type PeerSession, type UpstreamGroupConf, type UpstreamServerConf,
} from '../balancer/types.js';
