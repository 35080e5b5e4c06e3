#include "textflag.h"

// func dot8AVX2(a, b *int8, n int) int32
// n is a multiple of 32; every element is in [-127, 127] (quantize's range).
//
// Per 32 bytes: |a| as unsigned bytes times b with a's sign applied
// (VPABSB, VPSIGNB), multiplied and added in pairs to int16 (VPMADDUBSW:
// at most 2 × 127 × 127 = 32,258, no saturation in this range), then in
// pairs again to int32 (VPMADDWD by ones): five instructions where sign
// extension to int16 first takes eight. Two accumulators over 64 bytes.
TEXT ·dot8AVX2(SB), NOSPLIT, $0-28
	MOVQ      a+0(FP), SI
	MOVQ      b+8(FP), DI
	MOVQ      n+16(FP), CX
	VPXOR     Y0, Y0, Y0
	VPXOR     Y5, Y5, Y5
	VPCMPEQW  Y7, Y7, Y7
	VPSRLW    $15, Y7, Y7 // sixteen int16 ones

loop64:
	CMPQ       CX, $64
	JL         tail32
	VMOVDQU    (SI), Y1
	VMOVDQU    (DI), Y2
	VPSIGNB    Y1, Y2, Y2
	VPABSB     Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD   Y7, Y3, Y3
	VPADDD     Y3, Y0, Y0
	VMOVDQU    32(SI), Y4
	VMOVDQU    32(DI), Y6
	VPSIGNB    Y4, Y6, Y6
	VPABSB     Y4, Y4
	VPMADDUBSW Y6, Y4, Y8
	VPMADDWD   Y7, Y8, Y8
	VPADDD     Y8, Y5, Y5
	ADDQ       $64, SI
	ADDQ       $64, DI
	SUBQ       $64, CX
	JMP        loop64

tail32:
	CMPQ       CX, $32
	JL         done
	VMOVDQU    (SI), Y1
	VMOVDQU    (DI), Y2
	VPSIGNB    Y1, Y2, Y2
	VPABSB     Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD   Y7, Y3, Y3
	VPADDD     Y3, Y0, Y0

done:
	VPADDD       Y5, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4E, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xB1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, AX
	MOVL         AX, ret+24(FP)
	VZEROUPPER
	RET

// func prefetchLines(p unsafe.Pointer, n int)
// Issues PREFETCHT0 for n consecutive cache lines from p.
TEXT ·prefetchLines(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX

ploop:
	TESTQ      CX, CX
	JEQ        pdone
	PREFETCHT0 (SI)
	ADDQ       $64, SI
	DECQ       CX
	JMP        ploop

pdone:
	RET
