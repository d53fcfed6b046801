/**
 * Small networks with AlexNet's full structure (two towers, 'own' and 'both'
 * links at the paper's places, LRN, overlapping pooling, dropout), for checks
 * that would be too slow on the real thing.
 */
import { type NetSpec, PAPER_POOL } from '../core/alexnet.ts';

/**
 * Input 3x31x31: conv1 15x15x4 -> pool 7x7 -> conv2 7x7x4 -> pool 3x3 -> conv3 3x3x6
 * -> conv4 3x3x6 -> conv5 3x3x4 -> pool 1x1 -> fc 6 -> fc 6 -> classes. An odd
 * class count splits unevenly between the towers, which is worth testing too.
 */
export const tinySpec = (classes = 5): NetSpec => ({
  name: 'tiny',
  input: [3, 31, 31],
  classes,
  // A large alpha, so LRN is far from the identity and its gradient matters.
  lrn: { k: 2, n: 3, alpha: 0.5, beta: 0.75 },
  pool: PAPER_POOL,
  dropout: 0.5,
  initStd: 0.3,
  layers: [
    { kind: 'conv', name: 'conv1', out: 4, kernel: 3, stride: 2, pad: 0, link: 'input', after: ['relu', 'lrn', 'pool'], biasInit: 0 },
    { kind: 'conv', name: 'conv2', out: 4, kernel: 3, stride: 1, pad: 1, link: 'own', after: ['relu', 'lrn', 'pool'], biasInit: 1 },
    { kind: 'conv', name: 'conv3', out: 6, kernel: 3, stride: 1, pad: 1, link: 'both', after: ['relu'], biasInit: 0 },
    { kind: 'conv', name: 'conv4', out: 6, kernel: 3, stride: 1, pad: 1, link: 'own', after: ['relu'], biasInit: 1 },
    { kind: 'conv', name: 'conv5', out: 4, kernel: 3, stride: 1, pad: 1, link: 'own', after: ['relu', 'pool'], biasInit: 1 },
    { kind: 'fc', name: 'fc6', out: 6, link: 'both', after: ['relu', 'dropout'], biasInit: 1 },
    { kind: 'fc', name: 'fc7', out: 6, link: 'both', after: ['relu', 'dropout'], biasInit: 1 },
    { kind: 'fc', name: 'fc8', out: classes, link: 'both', after: [], biasInit: 0 },
  ],
});
