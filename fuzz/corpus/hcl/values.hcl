a = "x\"y ${VAR "q"}"
b = [1, -2, 0x1F, 0755, 1.5e3,]
c = <<-EOF
    text
    EOF
d = { e = true, f = false }
/* c */ # h
// s
