;; The inner matrix product of the CPU backend, in WebAssembly SIMD.
;;
;;   gemm(M4, N8, K, a, b, c, ldb, ldc):
;;     C[i][j] += sum_k A[i][k] * B[k][j]   for i < 4*M4, j < 8*N8
;;
;; A is row-major with K columns, B has row stride ldb floats, C row stride ldc
;; floats; a, b, c are byte offsets into the exported memory. Each step of the
;; k loop loads 8 floats of one row of B (two f32x4) and one float from each of
;; four rows of A (splatted), and updates a 4 x 8 tile of C held in eight
;; f32x4 accumulators: 64 flops per 6 loads.
(module
  (memory (export "memory") 1)
  (func (export "gemm")
    (param $M4 i32) (param $N8 i32) (param $K i32)
    (param $a i32) (param $b i32) (param $c i32) (param $ldb i32) (param $ldc i32)
    (local $i i32) (local $j i32) (local $k i32)
    (local $ka i32) (local $kb i32) (local $kc i32)
    (local $pa i32) (local $pa1 i32) (local $pa2 i32) (local $pa3 i32) (local $pb i32) (local $pc i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $s v128)
    ;; byte strides of a row of A, B and C
    (local.set $ka (i32.shl (local.get $K) (i32.const 2)))
    (local.set $kb (i32.shl (local.get $ldb) (i32.const 2)))
    (local.set $kc (i32.shl (local.get $ldc) (i32.const 2)))
    (if (i32.or (i32.eqz (local.get $M4)) (i32.or (i32.eqz (local.get $N8)) (i32.eqz (local.get $K)))) (then (return)))
    (local.set $i (i32.const 0))
    (loop $rows
      (local.set $j (i32.const 0))
      (loop $cols
        ;; pc: the tile's top-left element of C
        (local.set $pc (i32.add (local.get $c)
          (i32.add (i32.mul (i32.shl (local.get $i) (i32.const 2)) (local.get $kc))
                   (i32.shl (local.get $j) (i32.const 5)))))
        (local.set $c00 (v128.load offset=0 (local.get $pc)))
        (local.set $c01 (v128.load offset=16 (local.get $pc)))
        (local.set $c10 (v128.load offset=0 (i32.add (local.get $pc) (local.get $kc))))
        (local.set $c11 (v128.load offset=16 (i32.add (local.get $pc) (local.get $kc))))
        (local.set $c20 (v128.load offset=0 (i32.add (local.get $pc) (i32.shl (local.get $kc) (i32.const 1)))))
        (local.set $c21 (v128.load offset=16 (i32.add (local.get $pc) (i32.shl (local.get $kc) (i32.const 1)))))
        (local.set $c30 (v128.load offset=0 (i32.add (local.get $pc) (i32.mul (local.get $kc) (i32.const 3)))))
        (local.set $c31 (v128.load offset=16 (i32.add (local.get $pc) (i32.mul (local.get $kc) (i32.const 3)))))
        ;; pa: row 4i of A; pb: column 8j of row 0 of B
        (local.set $pa (i32.add (local.get $a) (i32.mul (i32.shl (local.get $i) (i32.const 2)) (local.get $ka))))
        (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 5))))
        (local.set $k (local.get $K))
        ;; the four rows of A, stepped one float a k
        (local.set $pa1 (i32.add (local.get $pa) (local.get $ka)))
        (local.set $pa2 (i32.add (local.get $pa1) (local.get $ka)))
        (local.set $pa3 (i32.add (local.get $pa2) (local.get $ka)))
        (loop $inner
          (local.set $b0 (v128.load offset=0 (local.get $pb)))
          (local.set $b1 (v128.load offset=16 (local.get $pb)))
          (local.set $s (v128.load32_splat (local.get $pa)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $s (v128.load32_splat (local.get $pa1)))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $s (v128.load32_splat (local.get $pa2)))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $s (v128.load32_splat (local.get $pa3)))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
          (local.set $pa1 (i32.add (local.get $pa1) (i32.const 4)))
          (local.set $pa2 (i32.add (local.get $pa2) (i32.const 4)))
          (local.set $pa3 (i32.add (local.get $pa3) (i32.const 4)))
          (local.set $pb (i32.add (local.get $pb) (local.get $kb)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br_if $inner (local.get $k)))
        (v128.store offset=0 (local.get $pc) (local.get $c00))
        (v128.store offset=16 (local.get $pc) (local.get $c01))
        (v128.store offset=0 (i32.add (local.get $pc) (local.get $kc)) (local.get $c10))
        (v128.store offset=16 (i32.add (local.get $pc) (local.get $kc)) (local.get $c11))
        (v128.store offset=0 (i32.add (local.get $pc) (i32.shl (local.get $kc) (i32.const 1))) (local.get $c20))
        (v128.store offset=16 (i32.add (local.get $pc) (i32.shl (local.get $kc) (i32.const 1))) (local.get $c21))
        (v128.store offset=0 (i32.add (local.get $pc) (i32.mul (local.get $kc) (i32.const 3))) (local.get $c30))
        (v128.store offset=16 (i32.add (local.get $pc) (i32.mul (local.get $kc) (i32.const 3))) (local.get $c31))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $cols (i32.lt_u (local.get $j) (local.get $N8))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $i) (local.get $M4))))))
