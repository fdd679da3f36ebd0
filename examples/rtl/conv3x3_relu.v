// One output value of a fixed-point 3x3 convolution with bias, rounding, saturation and ReLU.
//
// Number formats (Vitis HLS notation), matching tichchap.hardware.Fixed:
//   input  x : ap_fixed<8,4>             (4 fraction bits)
//   weight w : ap_fixed<8,2>             (6 fraction bits)
//   bias   b : ap_fixed<16,6>            (10 fraction bits = the product's, so no alignment shift)
//   output y : ap_fixed<8,4,AP_RND,AP_SAT>, then ReLU
// The accumulator is exact (32 bits hold 9*CIN products of 16 bits plus the bias for CIN <= 64),
// so the order of the additions does not matter; rounding and saturation happen once, at the end.
module conv3x3_relu #(
    parameter CIN   = 2,
    parameter DW    = 8,    // input word width
    parameter WW    = 8,    // weight word width
    parameter BW    = 16,   // bias word width
    parameter OW    = 8,    // output word width
    parameter ACCW  = 32,   // accumulator width
    parameter SHIFT = 6     // product fraction bits - output fraction bits
) (
    input  wire [9*CIN*DW-1:0] window,   // taps in (kh, kw, cin) order, cin fastest; tap 0 in the low bits
    input  wire [9*CIN*WW-1:0] weights,  // same order as window
    input  wire [BW-1:0]       bias,
    output reg  [OW-1:0]       y
);
    integer t;
    reg signed [ACCW-1:0] acc;
    reg signed [ACCW-1:0] rounded;

    always @* begin
        acc = {{(ACCW-BW){bias[BW-1]}}, bias};
        for (t = 0; t < 9*CIN; t = t + 1)
            acc = acc + $signed(window[t*DW +: DW]) * $signed(weights[t*WW +: WW]);
        rounded = (acc + (1 <<< (SHIFT-1))) >>> SHIFT;            // AP_RND: nearest, ties up
        if (rounded > (1 <<< (OW-1)) - 1)
            y = {1'b0, {(OW-1){1'b1}}};                            // AP_SAT: largest value
        else if (rounded < -(1 <<< (OW-1)))
            y = {1'b1, {(OW-1){1'b0}}};                            // AP_SAT: most negative value
        else
            y = rounded[OW-1:0];
        if (y[OW-1])
            y = {OW{1'b0}};                                        // ReLU
    end
endmodule
