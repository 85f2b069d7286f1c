print("tollbooth")
