/**
 * alexnet-ts/data: the data sets and their preparation. IDX files (Fashion-MNIST
 * from Debian's dataset-fashion-mnist, or any IDX folder), image folders (one
 * folder a class, decoded and resized by sharp), the built-in synthetic set, and
 * the paper's preprocessing and augmentation (mean image, crops, reflections,
 * PCA colour noise, the ten test crops).
 */
export * from './dataset.ts';
export * from './idx.ts';
export * from './fashion-mnist.ts';
export * from './image-folder.ts';
export * from './synthetic.ts';
export * from './augment.ts';
