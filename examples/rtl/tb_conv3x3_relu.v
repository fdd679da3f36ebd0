// Testbench: reads tichchap's $readmemh files, runs a 'same'-padded 3x3 convolution layer one
// output value at a time through conv3x3_relu, and writes the outputs (NHWC, one word per line).
//   input.hex   : H*W*CIN words, NHWC (N = 1), 2 hex digits
//   weights.hex : 3*3*CIN*COUT words, Keras kernel order (kh, kw, cin, cout), 2 hex digits
//   bias.hex    : COUT words, 4 hex digits
//   output.hex  : H*W*COUT words, NHWC, 2 hex digits
// Override the sizes with iverilog -P tb_conv3x3_relu.H=... etc.
`timescale 1ns/1ps
module tb_conv3x3_relu;
    parameter H = 5, W = 6, CIN = 2, COUT = 3;

    reg [7:0]  image  [0:H*W*CIN-1];
    reg [7:0]  kernel [0:9*CIN*COUT-1];
    reg [15:0] bias   [0:COUT-1];
    reg [9*CIN*8-1:0] window;
    reg [9*CIN*8-1:0] weights;
    reg [15:0] b;
    wire [7:0] y;
    integer r, c, co, i, j, ci, t, rr, cc, fd;

    conv3x3_relu #(.CIN(CIN)) dut (.window(window), .weights(weights), .bias(b), .y(y));

    initial begin
        $readmemh("input.hex", image);
        $readmemh("weights.hex", kernel);
        $readmemh("bias.hex", bias);
        fd = $fopen("output.hex", "w");
        for (r = 0; r < H; r = r + 1)
            for (c = 0; c < W; c = c + 1)
                for (co = 0; co < COUT; co = co + 1) begin
                    for (i = 0; i < 3; i = i + 1)
                        for (j = 0; j < 3; j = j + 1)
                            for (ci = 0; ci < CIN; ci = ci + 1) begin
                                t = (i * 3 + j) * CIN + ci;
                                rr = r + i - 1;
                                cc = c + j - 1;
                                if (rr >= 0 && rr < H && cc >= 0 && cc < W)
                                    window[t*8 +: 8] = image[(rr * W + cc) * CIN + ci];
                                else
                                    window[t*8 +: 8] = 8'h00;          // 'same' padding: zero words
                                weights[t*8 +: 8] = kernel[((i * 3 + j) * CIN + ci) * COUT + co];
                            end
                    b = bias[co];
                    #1;
                    $fwrite(fd, "%h\n", y);
                end
        $fclose(fd);
        $finish;
    end
endmodule
