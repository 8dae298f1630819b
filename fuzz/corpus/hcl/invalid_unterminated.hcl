a = "unterminated
b = <<EOF
no end
